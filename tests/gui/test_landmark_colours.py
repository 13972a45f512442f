"""Landmark error colours are absolute (in voxels of the fixed image): large errors are never green."""

from __future__ import annotations

from PySide6.QtGui import QColor

from regviewer import paths
from regviewer.gui.landmarks.panel import BAD, FAIR, GOOD, LandmarkPanel, residual_colour
from regviewer.gui.main_window import MainWindow


def test_thresholds_are_absolute_in_voxels():
    assert residual_colour(0.5) == GOOD and residual_colour(2.0) == GOOD
    assert residual_colour(3.0) == FAIR and residual_colour(6.0) == BAD
    assert residual_colour(31.0) == BAD and residual_colour(37.0) == BAD
    assert residual_colour(0.7, voxel_mm=0.4) == GOOD and residual_colour(1.5, voxel_mm=0.4) == FAIR
    assert residual_colour(2.5, voxel_mm=0.4) == BAD
    assert residual_colour(7.0, voxel_mm=4.0) == GOOD  # 4 mm slices: 7 mm is under 2 voxels


def test_every_pair_equally_wrong_under_identity_shows_red_not_green(qtbot, settings):
    window = MainWindow(fixed=paths.SAMPLE_3D_FIXED, moving=paths.SAMPLE_3D_MOVING, settings=settings)
    qtbot.addWidget(window)
    panel = window.findChild(LandmarkPanel)
    model = panel.controller.model
    cursor = window.grid.link.cursor_mm.copy()
    offsets = [(31.0, 0, 0), (0, 34.0, 0), (0, 0, 37.0), (33.0, 2.0, 0), (6.0, 0, 0), (1.0, 0, 0)]
    for index, offset in enumerate(offsets):
        base = cursor + [3.0 * index, -2.0 * index, index]
        model.add_pair(base, base + offset)
    colours = [panel.table.item(row, 8).foreground().color() for row in range(len(offsets))]
    errors = [float(panel.table.item(row, 8).text()) for row in range(len(offsets))]
    assert errors[:4] == [31.0, 34.0, 37.0, round((33.0**2 + 4.0) ** 0.5, 2)]
    spacing = float(max(window.grid.scene.fixed.spacing))
    for error, colour in zip(errors, colours):
        assert colour == QColor(residual_colour(error, spacing))
    assert all(colour == BAD for colour in colours[:4])  # 31-37 mm: red, whatever the others
    assert colours[4] == FAIR  # 6 mm = 3 voxels of 2 mm
    assert colours[5] == GOOD  # 1 mm: within a voxel
