"""Kernel time by family from ncu's raw CSV pages, side by side: what each run's GPU did in its profiled range.

    ncu --profile-from-start off --metrics gpu__time_duration.sum --csv --page raw --log-file A.csv PROGRAM ...
    python3 ncu_summary.py smp4j=A.csv pytorch=B.csv

A family is the kernel's name up to its template arguments or parameter list, with the functor of PyTorch's generic
kernels. Prints per family the kernel count and
microseconds of each run, largest first, then the totals.
"""
import csv
import re
import sys
from collections import defaultdict


def family(name):
    name = re.sub(r"^void ", "", name)
    head = re.split(r"[<(]", name, maxsplit=1)[0]
    base = head.split("::")[-1]
    # PyTorch's generic kernels (elementwise, reduce) say what they do in their template arguments: the functor.
    inner = re.findall(r"(\w*(?:Functor|Op|Ops|_kernel\w*|Impl)\w*)", name[len(head):].split("(")[0])
    inner = [i for i in inner if i != base]
    return base + ("<" + inner[0] + ">" if inner else "")


def read(path):
    """{family: [count, microseconds]} from one ncu raw CSV (its header row names 'Kernel Name')."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f)]
    start = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    header = rows[start]
    name = header.index("Kernel Name")
    col = header.index("gpu__time_duration.sum")
    unit = rows[start + 1][col] if start + 1 < len(rows) else "ns"
    scale = {"ns": 1e-3, "nsecond": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}.get(unit, None)
    out = defaultdict(lambda: [0, 0.0])
    for r in rows[start + 1:]:
        if len(r) <= max(name, col):
            continue
        try:
            v = float(r[col].replace(",", ""))
        except ValueError:
            continue  # the units row
        f = out[family(r[name])]
        f[0] += 1
        f[1] += v * (scale if scale is not None else 1e-3)
    return out


def main():
    runs = [(a.split("=", 1)[0], read(a.split("=", 1)[1])) for a in sys.argv[1:]]
    fams = set()
    for _, r in runs:
        fams |= set(r)
    order = sorted(fams, key=lambda k: -max(r.get(k, [0, 0.0])[1] for _, r in runs))
    print("family | " + " | ".join(f"{n} kernels | {n} us" for n, _ in runs))
    for k in order[:40]:
        print(k[:60] + " | " + " | ".join(f"{r.get(k, [0, 0.0])[0]} | {r.get(k, [0, 0.0])[1]:.0f}" for _, r in runs))
    print("TOTAL | " + " | ".join(f"{sum(v[0] for v in r.values())} | {sum(v[1] for v in r.values()):.0f}"
                                  for _, r in runs))


if __name__ == "__main__":
    main()
