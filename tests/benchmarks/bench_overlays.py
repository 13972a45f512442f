"""Overlay benchmark: time to redraw one slice view with grid + Jacobian + label contours.

The brain3d sample pair (fixed 80x112x96 at 2 mm, moving on an oblique grid) with its true transform
(a B-spline followed by an affine: the non-trivial, slow-to-evaluate kind) and the fixed / moving
label maps restricted to the 30 labels VoxelMorph scores (or all 45 with --all-labels). One view in a
single-view layout steps through slices it has not shown before (so nothing is cached); each step is
timed from the cursor change to the end of a synchronous repaint of the view, for:

- the view alone (image and filled labels, no overlays): the baseline;
- + grid + Jacobian + contours (the issue's target: under 30 ms median);
- + every overlay (magnitude, arrows and agreement too);
- the overlays' own cost per slice (cache cleared, image unchanged).

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_overlays.py [--mode warped] [--all-labels]
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
SCORED_LABELS = ROOT.parent / "shared" / "data" / "brain3d" / "labels.npz"


def _labels(image, keep):
    array = np.where(np.isin(image.array, keep), image.array, 0).astype(image.array.dtype)
    return image.with_array(array)


def _load(all_labels: bool):
    from regviewer import paths
    from regviewer.core.io import read_image
    from regviewer.core.io.transforms_io import read_transform

    fixed, moving = read_image(paths.SAMPLE_3D_FIXED), read_image(paths.SAMPLE_3D_MOVING)
    fixed_labels = read_image(paths.SAMPLE_3D_FIXED_LABELS, is_label=True)
    moving_labels = read_image(paths.SAMPLE_3D_MOVING_LABELS, is_label=True)
    if not all_labels:
        keep = np.load(SCORED_LABELS)["labels"] if SCORED_LABELS.exists() else np.unique(fixed_labels.array)[1:31]
        fixed_labels, moving_labels = _labels(fixed_labels, keep), _labels(moving_labels, keep)
    return fixed, moving, fixed_labels, moving_labels, read_transform(paths.SAMPLE_3D_TRUTH)


def _steps(view, plane: str, count: int) -> list[float]:
    """Milliseconds per slice step (cursor change -> synchronous repaint), over ``count`` new slices."""
    from PySide6.QtWidgets import QApplication

    view.set_plane(plane)
    scene, link = view.scene, view.link
    axes = scene.space.axes(plane)
    grid = scene.grid("fixed")
    size = grid.geometry.size[axes.normal]
    first = max(0, size // 2 - count // 2)
    times = []
    for index in range(first, min(size, first + count)):
        q = scene.space.to_display(link.cursor_mm)
        q[axes.normal] = grid.slice_centre(axes, index)
        start = time.perf_counter()
        link.set_cursor(scene.space.to_physical(q))
        view.graphics.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
        QApplication.processEvents()
    return times


def _overlay_only(view, controller, plane: str, count: int) -> list[float]:
    view.set_plane(plane)
    times = []
    axes = view.scene.space.axes(plane)
    grid = view.scene.grid("fixed")
    size = grid.geometry.size[axes.normal]
    for index in range(max(0, size // 2 - count // 2), min(size, size // 2 + count // 2)):
        q = view.scene.space.to_display(view.link.cursor_mm)
        q[axes.normal] = grid.slice_centre(axes, index)
        view.link.set_cursor(view.scene.space.to_physical(q))
        controller.clear_cache()
        for overlay in view.overlays:
            overlay._drawn_key = "again"
        start = time.perf_counter()
        view.refresh_overlays(True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="warped", choices=("fixed", "warped", "moving"), help="view mode timed")
    parser.add_argument("--slices", type=int, default=30, help="new slices stepped per plane")
    parser.add_argument("--all-labels", action="store_true", help="contours of all 45 sample labels, not the 30 scored")
    args = parser.parse_args()

    from regviewer.gui.app import application
    from regviewer.gui.overlays import install_on_grid
    from regviewer.gui.views.view_grid import ViewGrid

    app = application()
    fixed, moving, fixed_labels, moving_labels, transform = _load(args.all_labels)
    label_count = len(set(np.unique(fixed_labels.array).tolist()) - {0})
    grid = ViewGrid()
    grid.resize(900, 900)
    index = {"fixed": 0, "moving": 1, "warped": 2}[args.mode]
    grid.set_layout("1x1", current=index)
    grid.show()
    grid.set_content(fixed, moving, fixed_labels, moving_labels, transform)
    controller = install_on_grid(grid)
    view = grid.views[index]
    app.processEvents()

    rows = []

    def run(name: str, kinds: tuple[str, ...], overlay_only: bool = False) -> None:
        for kind in ("grid", "jacobian", "magnitude", "arrows", "contours", "agreement"):
            controller.set_options(kind, enabled=kind in kinds, views=[index])
        times = []
        for plane in ("axial", "coronal", "sagittal"):
            grid.scene._cache.clear()
            controller.clear_cache()
            times += (
                _overlay_only(view, controller, plane, args.slices)
                if overlay_only
                else _steps(view, plane, args.slices)
            )
        rows.append((name, statistics.median(times), float(np.percentile(times, 90)), max(times), len(times)))

    run("view only (image + filled labels)", ())
    run("+ grid + Jacobian + contours", ("grid", "jacobian", "contours"))
    run("+ every overlay", ("grid", "jacobian", "magnitude", "arrows", "contours", "agreement"))
    run("overlays only: grid + Jacobian + contours", ("grid", "jacobian", "contours"), overlay_only=True)

    load = os.getloadavg()
    print(
        f"brain3d sample, {args.mode} view, B-spline + affine transform, {label_count} labels, "
        f"{args.slices} new slices x 3 planes; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'scenario':44s} {'median ms':>10s} {'p90 ms':>8s} {'max ms':>8s} {'n':>4s}")
    for name, median, p90, worst, count in rows:
        print(f"{name:44s} {median:10.1f} {p90:8.1f} {worst:8.1f} {count:4d}")
    grid.close()


if __name__ == "__main__":
    main()
