"""Memory growth over many registrations in one process (the GUI runs many in one session).

Each variant runs in its own subprocess: N B-spline registrations of a small 3D pair through
``run_chain`` (with a progress callback and a cancel token, as the GUI does), RSS read after a
warm-up and at the end. The peer is the same loop with ``RemoveAllCommands`` disabled, i.e. with
the SimpleITK command callbacks still holding every run's closures (history, token, images): the
leak this benchmark guards against. Target: growth < 1 % of the warm RSS.

usage: python tests/benchmarks/bench_leak.py [--runs 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import gc, json, sys, time
import numpy as np
import psutil
import SimpleITK as sitk
from regviewer.core.image import Image
from regviewer.core.progress import CancelToken
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain

runs, warmup, keep_cycle = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
if keep_cycle:
    sitk.ImageRegistrationMethod.RemoveAllCommands = lambda self: None
z, y, x = np.mgrid[0:24, 0:24, 0:24].astype(np.float32)
blob = lambda s: 100 * np.exp(-((z - 12) ** 2 + (y - 12) ** 2 + (x - 12 - s) ** 2) / 40)
fixed, moving = Image.from_array(blob(0.0), name="f"), Image.from_array(blob(1.5), name="m")
stages = [Stage("bspline", {"iterations": 2, "shrink_factors": (2, 1), "smoothing_sigmas": (1.0, 0.0),
                            "samples": (500, 1000), "mesh_spacing_mm": 12.0})]
events = []
process = psutil.Process()
started = time.perf_counter()
for index in range(runs):
    run_chain(stages, Request(fixed, moving), lambda event: events.append(1) if len(events) < 1 else None, CancelToken())
    if index + 1 == warmup:
        gc.collect()
        warm = process.memory_info().rss
gc.collect()
end = process.memory_info().rss
print(json.dumps({"warm_mb": warm / 2**20, "end_mb": end / 2**20, "seconds": time.perf_counter() - started}))
"""


def run_variant(runs: int, warmup: int, keep_cycle: bool) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", _CHILD, str(runs), str(warmup), "1" if keep_cycle else "0"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for label, keep in (("RegViewer (cycle broken)", False), ("peer: callbacks kept", True)):
        started = time.perf_counter()
        result = run_variant(args.runs, args.warmup, keep)
        growth = result["end_mb"] - result["warm_mb"]
        rows.append(
            (
                label,
                result["warm_mb"],
                result["end_mb"],
                growth,
                100 * growth / result["warm_mb"],
                1000 * growth / max(args.runs - args.warmup, 1),
                time.perf_counter() - started,
            )
        )
    print(f"{args.runs} B-spline registrations in one process (RSS after {args.warmup} warm-up runs -> end)")
    print(f"{'variant':<28}{'warm MB':>9}{'end MB':>9}{'growth MB':>11}{'growth %':>10}{'KB/run':>8}{'time s':>8}")
    for row in rows:
        print(f"{row[0]:<28}{row[1]:>9.1f}{row[2]:>9.1f}{row[3]:>11.2f}{row[4]:>10.2f}{row[5]:>8.1f}{row[6]:>8.1f}")
    ratio = rows[1][3] / rows[0][3] if rows[0][3] > 0 else float("inf")
    print(
        f"peer growth / RegViewer growth: {ratio:.1f}x; target RegViewer growth < 1 %: "
        f"{'met' if rows[0][4] < 1 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
