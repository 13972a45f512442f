"""Viewer benchmark: time to first window, and redraw times of the four linked views.

- first window: wall time of a fresh ``python`` process from start until the main window (with the
  bundled 3D sample pair) has painted, plus whether torch or vtk were imported by then.
- redraw: median time to update and repaint all four views (fixed, moving, warped, checkerboard) of a
  256^3 pair with a non-identity B-spline transform, after a slice step and after an in-plane cursor move.

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_viewer.py [--repeats N] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIRST_WINDOW = """
import os, sys
from regviewer.gui.app import application
from regviewer.gui.main_window import MainWindow
app = application()
window = MainWindow()
window.open_sample({sample!r})
window.show()
app.processEvents()
window.grid.grab()
print(",".join(m for m in ("torch", "vtk", "vtkmodules") if m in sys.modules) or "none")
sys.stdout.flush()
os._exit(0)
"""


def first_window(sample: str, repeats: int) -> tuple[float, str]:
    times, heavy = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", FIRST_WINDOW.format(sample=sample)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        heavy = done.stdout.strip().splitlines()[-1]
    return statistics.median(times), heavy


def _pair(size: int):
    import SimpleITK as sitk

    from regviewer.core.image import Image
    from regviewer.core.transforms import BSplineTransform

    rng = np.random.default_rng(0)
    coarse = rng.random((size // 16,) * 3).astype(np.float32)
    from scipy.ndimage import zoom

    volume = zoom(coarse, 16, order=1)[:size, :size, :size] * 1000
    fixed = Image.from_array(volume, spacing=(0.9, 0.9, 0.9))
    moving = Image.from_array(volume, spacing=(1.0, 0.9, 0.8), origin=(3.0, -2.0, 1.0))
    reference = fixed.to_sitk()
    bspline = sitk.BSplineTransformInitializer(reference, [8, 8, 8], 3)
    parameters = np.asarray(bspline.GetParameters())
    bspline.SetParameters(tuple(rng.normal(0, 3.0, parameters.size)))
    return fixed, moving, BSplineTransform(bspline)


def redraw(size: int, repeats: int) -> dict[str, tuple[float, float]]:
    from regviewer.gui.app import application
    from regviewer.gui.views.view_grid import ViewGrid

    app = application()
    fixed, moving, transform = _pair(size)
    grid = ViewGrid()
    grid.resize(1200, 900)
    grid.set_content(fixed, moving, transform=transform)
    grid.show()
    app.processEvents()

    def repaint() -> None:
        for view in grid.views:
            view.graphics.viewport().repaint()

    results = {}
    cursor = grid.link.cursor_mm.copy()
    for name, delta in (("slice step", np.array([0.0, 0.0, 0.9])), ("cursor move", np.array([0.9, 0.45, 0.0]))):
        times, cpu_times = [], []
        point = cursor.copy()
        for step in range(repeats):
            point = point + delta * (1 if (step // 30) % 2 == 0 else -1)
            grid.scene._cache.clear()  # measure cold slices: no slice seen before
            start, cpu_start = time.perf_counter(), time.process_time()
            grid.set_cursor(point)
            repaint()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        results[name] = (statistics.median(times) * 1000, statistics.median(cpu_times) * 1000)
    grid.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    print("| measure | value |\n|---|---|")
    for sample in ("2d", "3d"):
        seconds, heavy = first_window(sample, 3)
        print(
            f"| first window, {sample} sample (process start to painted) | {seconds:.2f} s (torch/vtk imported: {heavy}) |"
        )
    for name, (wall_ms, cpu_ms) in redraw(args.size, args.repeats).items():
        print(
            f"| redraw 4 views after a {name}, {args.size}^3, B-spline | {wall_ms:.1f} ms median wall, "
            f"{cpu_ms:.1f} ms CPU |"
        )
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
