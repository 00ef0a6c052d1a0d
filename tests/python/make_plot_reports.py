#!/usr/bin/env python3
"""make_plot_reports.py DATA_DIR TMP — the synthetic reports tests/python/test_plots.sh
feeds to scripts/plots.py: 4 epochs of history, a confusion matrix summing to 1000 and
predictions for the first 40 test images (labels read from the IDX file in DATA_DIR,
every 7th prediction wrong). Writes TMP/report.json, TMP/report_nopred.json (no
predictions) and TMP/report_badcm.json (a 2x2 confusion matrix).
"""
import json, os, sys
import numpy as np
data_dir, tmp = sys.argv[1], sys.argv[2]
labels = np.fromfile(os.path.join(data_dir, "t10k-labels-idx1-ubyte"),
                     dtype=np.uint8, offset=8)
cm = np.full((10, 10), 1, dtype=int)
np.fill_diagonal(cm, 91)
history = [{"epoch": e, "loss": 0.5 / e, "accuracy": 0.9 + 0.02 * e,
            "val_loss": 0.4 / e, "val_accuracy": 0.91 + 0.015 * e,
            "lr": 0.001 if e < 3 else 0.0005, "seconds": 1.0}
           for e in range(1, 5)]
report = {
    "config": {"epochs": 4, "batch_size": 64},
    "history": history,
    "best_epoch": 4,
    "test": {"loss": 0.05, "accuracy": 0.91, "count": 1000,
             "confusion_matrix": cm.tolist()},
    "data": {"train": 900, "validation": 100, "test": 1000},
}
with open(os.path.join(tmp, "report_nopred.json"), "w") as f:
    json.dump(report, f)
report["test_predictions"] = [
    {"index": i, "label": int(labels[i]),
     "predicted": int(labels[i]) if i % 7 else (int(labels[i]) + 1) % 10,
     "probability": 0.99 if i % 7 else 0.55}
    for i in range(40)]
with open(os.path.join(tmp, "report.json"), "w") as f:
    json.dump(report, f)
bad = dict(report)
bad["test"] = dict(report["test"], confusion_matrix=[[1, 2], [3, 4]])
with open(os.path.join(tmp, "report_badcm.json"), "w") as f:
    json.dump(bad, f)
