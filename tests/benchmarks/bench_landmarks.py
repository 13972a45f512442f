"""Landmark benchmark: the live (BigWarp-style) preview while one landmark of 20 is dragged.

One drag step = move the point in the model (one merged undo step), refit the thin-plate spline,
``grid.set_transform(preview=True)`` (the Warped and Checkerboard views warp their displayed slice
only; a preview TPS is evaluated every 4th voxel and interpolated) and repaint the four views
(``grid.repaint()``: a synchronous paint of the window's view area). Reported: the median and 90th
percentile per step (wall time), the process CPU time per step (less sensitive to other work on a
shared machine; it includes BLAS / Qt helper threads), and the parts: fit, set_transform (slices,
compose, overlays), paint. Also the final fit on release (exact TPS on every voxel, table with
residuals and leave-one-out).

- 2D: a 512 x 512 pair (brain2d r16 / r85 upsampled to 0.5 mm pixels).
- 3D: brain3d test_scan (160 x 192 x 224, 1 mm) against a shifted copy; axial slices (224 x 192).

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_landmarks.py [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SHARED = ROOT.parent / "shared" / "data"


def _pair_2d():
    from scipy.ndimage import zoom

    from regviewer.core.image import Image
    from regviewer.core.io import read_image

    images = []
    for name in ("r16slice.jpg", "r85slice.jpg"):
        array = zoom(read_image(SHARED / "brain2d" / name).array.astype(np.float32), 2.0, order=1)
        images.append(Image.from_array(array, spacing=(0.5, 0.5), name=f"{name} (512 x 512)"))
    return images


def _pair_3d():
    from regviewer.core.image import Image
    from regviewer.core.io import read_image

    fixed = read_image(SHARED / "brain3d" / "test_scan.npz")
    moving = Image(
        fixed.array,
        fixed.geometry.__class__(fixed.shape, fixed.spacing, fixed.origin + [3.0, -2.0, 1.5]),
        name="shifted copy",
    )
    return fixed, moving


def _landmarks(image, count: int, seed: int = 0, on_slice: float | None = None):
    rng = np.random.default_rng(seed)
    low, high = image.geometry.bounds_mm()
    margin = 0.2 * (high - low)
    fixed = rng.uniform(low + margin, high - margin, (count, image.ndim))
    if on_slice is not None:
        fixed[: count // 2, 2] = on_slice  # half of them on the displayed axial slice
    moving = fixed + rng.normal(0, 3.0, fixed.shape) + 2.0
    return fixed, moving


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def drag(window, app, steps: int) -> dict[str, float]:
    controller = window.landmarks
    grid = window.grid
    controller.set_fit(kind="tps", live=True)
    row = 3
    start = np.array(controller.model[row].moving)
    fit_t, set_t, paint_t, total, cpu = [], [], [], [], []
    controller.dragging = True
    for step in range(steps):
        point = start + 8.0 * np.array([np.cos(step / 5.0), np.sin(step / 5.0)] + [0.0] * (len(start) - 2))
        c0 = time.process_time()
        t0 = time.perf_counter()
        controller.model.set_point(row, "moving", point, merge_key="bench-drag")
        t1 = time.perf_counter()
        transform = controller.fitted(preview=True)
        t2 = time.perf_counter()
        grid.set_transform(transform, preview=True)
        t3 = time.perf_counter()
        grid.repaint()
        app.processEvents()
        t4 = time.perf_counter()
        cpu.append(time.process_time() - c0)
        fit_t.append(t2 - t1)
        set_t.append(t3 - t2)
        paint_t.append(t4 - t3)
        total.append(t4 - t0)
    t0 = time.perf_counter()
    controller.drag_finished()
    grid.repaint()
    app.processEvents()
    release = time.perf_counter() - t0
    ordered = sorted(total)
    return {
        "median": _median_ms(total),
        "cpu": _median_ms(cpu),
        "p90": 1000 * ordered[int(0.9 * (len(ordered) - 1))],
        "fit": _median_ms(fit_t),
        "set_transform": _median_ms(set_t),
        "paint": _median_ms(paint_t),
        "release": 1000 * release,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    from PySide6.QtCore import QSettings

    from regviewer.gui.app import application
    from regviewer.gui.main_window import MainWindow

    app = application()
    rows = []
    for label, pair in (("2D 512x512", _pair_2d), ("3D 160x192x224 axial", _pair_3d)):
        fixed, moving = pair()
        window = MainWindow(
            fixed=fixed,
            moving=moving,
            settings=QSettings(str(Path("/tmp") / "bench_landmarks.ini"), QSettings.Format.IniFormat),
        )
        window.resize(1600, 1000)
        window.show()
        app.processEvents()
        slice_z = float(window.grid.link.cursor_mm[2]) if fixed.ndim == 3 else None
        fixed_points, moving_points = _landmarks(fixed, 20, on_slice=slice_z)
        for f, m in zip(fixed_points, moving_points):
            window.landmarks.model.add_pair(f, m)
        drag(window, app, 5)  # warm-up
        rows.append((label, drag(window, app, args.steps)))
        window.close()
        window.deleteLater()
        app.processEvents()
    load = os.getloadavg()
    print(
        f"Live landmark preview, one of 20 landmarks dragged, TPS (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(
        f"{'case':<24}{'median':>9}{'p90':>9}{'cpu':>9}{'fit':>9}{'set_tr':>9}{'paint':>9}{'release':>10}"
        "   (ms per drag step; target median < 33)"
    )
    for label, figures in rows:
        print(
            f"{label:<24}{figures['median']:>9.1f}{figures['p90']:>9.1f}{figures['cpu']:>9.1f}{figures['fit']:>9.2f}"
            f"{figures['set_transform']:>9.1f}{figures['paint']:>9.1f}{figures['release']:>10.1f}"
        )


if __name__ == "__main__":
    main()
