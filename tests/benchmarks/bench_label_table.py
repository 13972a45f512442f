"""Label Dice table benchmark: the time of a row click on an atlas-sized pair (116 labels, MNI grid).

The new user met ~240 ms per row click on an MNI pair with 116 AAL labels. No AAL atlas ships here,
so the pair is built: a 197x233x189 1 mm grid (the MNI152 template's), an ellipsoidal "brain" cut
into 116 regions by their nearest of 116 seeds (compact regions of atlas size), and the moving map
the same regions shifted by 2 voxels. A row click is timed from the mouse press to the end of the
synchronous repaint of the views (QApplication.processEvents), for rows spread over the table, first
with the whole-volume label search of before, then with the bounding boxes (same run, same load); the
table fill (116 rows) is timed once. Printed as a table of medians; compare runs made on one load.

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_label_table.py [--clicks 20]
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
SHAPE = (189, 233, 197)  # (z, y, x) of MNI152 at 1 mm


def atlas_pair(count: int = 116, seed: int = 0):
    """(fixed image, moving image, fixed labels, moving labels) of the synthetic atlas (see the docstring)."""
    from scipy.spatial import cKDTree

    from regviewer.core.image import Geometry, Image

    rng = np.random.default_rng(seed)
    z, y, x = np.indices(SHAPE, dtype=np.float32)
    centre = (np.array(SHAPE) - 1) / 2
    radius = np.array(SHAPE) * 0.42
    inside = ((z - centre[0]) / radius[0]) ** 2 + ((y - centre[1]) / radius[1]) ** 2 + (
        (x - centre[2]) / radius[2]
    ) ** 2 <= 1
    points = np.argwhere(inside)
    seeds = points[rng.choice(len(points), count, replace=False)]
    _distance, nearest = cKDTree(seeds).query(points, workers=1)
    labels = np.zeros(SHAPE, dtype=np.uint16)
    labels[tuple(points.T)] = (nearest + 1).astype(np.uint16) * 10 + 1  # 11, 21, ... like AAL's sparse values
    intensity = np.where(inside, 100.0 + 5.0 * (labels % 7), 0.0).astype(np.float32)
    geometry = Geometry(SHAPE, (1.0, 1.0, 1.0), (-98.0, -134.0, -72.0), np.eye(3))
    moved = np.roll(labels, 2, axis=2)
    return (
        Image(intensity, geometry, name="fixed"),
        Image(np.roll(intensity, 2, axis=2), geometry, name="moving"),
        Image(labels, geometry, name="fixed_labels", is_label=True),
        Image(moved, geometry, name="moving_labels", is_label=True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20)
    args = parser.parse_args()
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest

    from regviewer.gui.app import application
    from regviewer.gui.main_window import MainWindow
    from regviewer.gui.panels.label_table import LabelTablePanel

    app = application()
    start = time.perf_counter()
    fixed, moving, fixed_labels, moving_labels = atlas_pair()
    built = time.perf_counter() - start
    settings = QSettings(
        str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench_label_table.ini"), QSettings.Format.IniFormat
    )
    window = MainWindow(
        fixed=fixed, moving=moving, fixed_labels=fixed_labels, moving_labels=moving_labels, settings=settings
    )
    window.resize(1500, 950)
    window.show()
    panel = window.findChild(LabelTablePanel)
    window.findChild(type(window.info_dock), "labelTableDock").raise_()
    start = time.perf_counter()
    deadline = start + 300
    while (panel.table.rowCount() < 116 or panel.controller.computing) and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.002)
    figures = time.perf_counter() - start
    start = time.perf_counter()
    panel._shown = None
    panel.update_table()
    fill = time.perf_counter() - start
    app.processEvents()
    table = panel.table
    rows = np.linspace(0, table.rowCount() - 1, args.clicks).astype(int)
    from regviewer.core import label_stats

    def clicks() -> list[float]:
        times = []
        for row in rows:
            table.scrollToItem(table.item(int(row), 1))
            app.processEvents()
            rect = table.visualItemRect(table.item(int(row), 1))
            start = time.perf_counter()
            QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            app.processEvents()
            times.append((time.perf_counter() - start) * 1000)
            label = panel.label_at(int(row))
            assert window.grid.scene.value("fixed_labels", window.grid.link.cursor_mm) == label, (
                "the click missed its label"
            )
        return times

    boxes = label_stats.label_boxes
    label_stats.label_boxes = lambda array: None  # the lookup before: the whole volume per click
    before = clicks()
    label_stats.label_boxes = boxes
    times = clicks()
    from scipy import ndimage

    from regviewer.core.label_stats import label_centre_mm

    def full_scan(value):  # the lookup before the bounding boxes: the whole volume per click
        mask = fixed_labels.array == value
        centre = np.array(ndimage.center_of_mass(mask))
        where = np.argwhere(mask)
        return where[np.argmin(np.sum((where - centre) ** 2, axis=1))]

    values = [panel.label_at(int(row)) for row in rows]
    scan, boxed = [], []
    for value in values:
        start = time.perf_counter()
        full_scan(value)
        scan.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        label_centre_mm(fixed_labels, value)
        boxed.append((time.perf_counter() - start) * 1000)
    print(
        f"synthetic atlas: {SHAPE[::-1]} voxels (x, y, z), 116 labels; built in {built:.1f} s; "
        f"figures in {figures:.1f} s; load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'what':<34}{'median ms':>10}{'max ms':>10}")
    print(f"{'table fill (116 rows)':<34}{fill * 1000:>10.1f}{fill * 1000:>10.1f}")
    print(f"{'row click, whole-volume scan':<34}{statistics.median(before):>10.1f}{max(before):>10.1f}")
    print(f"{'row click, bounding box (now)':<34}{statistics.median(times):>10.1f}{max(times):>10.1f}")
    print(f"{'  first click (boxes warmed)':<34}{times[0]:>10.1f}{times[0]:>10.1f}")
    print(f"{'label centre: whole-volume scan':<34}{statistics.median(scan):>10.1f}{max(scan):>10.1f}")
    print(f"{'label centre: bounding box (now)':<34}{statistics.median(boxed):>10.1f}{max(boxed):>10.1f}")
    window.close()


if __name__ == "__main__":
    main()
