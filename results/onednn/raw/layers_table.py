import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
def rows(d):
    return {x["name"].replace("/manual_time", ""): x for x in d["benchmarks"]}
ra, rb = rows(a), rows(b)
print("| row | main (µs) | oneDNN branch (µs) | main / branch |")
print("| --- | ---: | ---: | ---: |")
ta = tb = 0.0
for k in ra:
    if k not in rb: continue
    f = sys.argv[3] if len(sys.argv) > 3 else "real_time"; x, y = ra[k][f], rb[k][f]
    ta += x; tb += y
    print(f"| {k} | {x:.0f} | {y:.0f} | {x / y:.2f} |")
print(f"| **sum of the rows** | {ta:.0f} | {tb:.0f} | {ta / tb:.2f} |")
print()
print("context (branch):", {k: v for k, v in b["context"].items() if k in ("onednn", "blas", "threads", "OPENBLAS_CORETYPE")})
