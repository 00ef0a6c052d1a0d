#!/usr/bin/env python3
"""export_test_pngs.py DATA_DIR OUT — the input pictures of tests/cli/test_predict.sh:
the first 20 MNIST test images as 8-bit greyscale PNG (OUT/digitNN.png), inverted
copies (OUT/invertedNN.png) and OUT/labels.txt ("index label" per line). Reads the
IDX files plain or gzipped; writes the PNGs with zlib alone, so it needs no imaging
library.
"""
import gzip, os, struct, sys, zlib

data, out = sys.argv[1], sys.argv[2]

def open_idx(base):
    for name in (base, base + ".gz", base[::-1].replace("-", ".", 1)[::-1]):
        p = os.path.join(data, name)
        if os.path.exists(p):
            return gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")
    raise SystemExit("no " + base + " in " + data)

with open_idx("t10k-images-idx3-ubyte") as f:
    _, n, rows, cols = struct.unpack(">IIII", f.read(16))
    images = [f.read(rows * cols) for _ in range(20)]
with open_idx("t10k-labels-idx1-ubyte") as f:
    f.read(8)
    labels = f.read(20)

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)

def png(path, pixels):  # 8-bit greyscale, filter 0 on every row
    raw = b"".join(b"\0" + pixels[r * cols:(r + 1) * cols] for r in range(rows))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

with open(os.path.join(out, "labels.txt"), "w") as f:
    for i, (img, label) in enumerate(zip(images, labels)):
        png(os.path.join(out, "digit%02d.png" % i), img)
        png(os.path.join(out, "inverted%02d.png" % i), bytes(255 - v for v in img))
        f.write("%d %d\n" % (i, label))
