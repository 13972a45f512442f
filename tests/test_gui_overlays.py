"""Deformation and label overlays in the main window (pytest-qt, offscreen); screenshots in tmp and /tmp/shots_r4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from regviewer import paths
from regviewer.core import metrics
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_displacement_field, read_transform
from regviewer.core.label_stats import deformation_summary
from regviewer.core.resample import resample_image
from regviewer.core.slice_deformation import slice_points
from regviewer.core.transforms import AffineTransform, DisplacementFieldTransform, to_displacement_field
from regviewer.gui.main_window import MainWindow
from regviewer.gui.overlays import load_colour_table
from regviewer.gui.overlays.export import export_displacement, export_jacobian, export_warped_labels
from regviewer.gui.overlays.layers import FOLD_COLOUR
from regviewer.gui.overlays.settings import KINDS

SHOTS = Path("/tmp/shots_r4")


def _window(qtbot, settings, **content) -> MainWindow:
    window = MainWindow(settings=settings, **content)
    qtbot.addWidget(window)
    window.resize(1500, 1000)
    window.show()
    qtbot.waitExposed(window)
    return window


def _shot(window: MainWindow, tmp_path: Path, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for folder in (tmp_path, SHOTS):
        assert window.grab().save(str(folder / name))


def _enable_everywhere(window: MainWindow, kinds=KINDS) -> None:
    for kind in kinds:
        window.overlays.set_options(kind, enabled=True, views=[0, 1, 2, 3])


def _overlay(view, kind: str):
    return next(overlay for overlay in view.overlays if getattr(overlay, "kind", None) == kind)


def test_sample_pair_overlays_statistics_and_label_table(qtbot, settings, tmp_path):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    truth = read_transform(paths.SAMPLE_3D_TRUTH)
    assert window.set_transform(truth)
    window.overlay_dock.raise_()
    _enable_everywhere(window, ("grid", "jacobian", "contours", "arrows"))
    window.overlays.set_options("agreement", enabled=True, views=[3])
    window.grid.link.set_options(show_labels=False)
    assert window.overlays.wait_for_volume()
    qtbot.wait(50)
    scene = window.grid.scene
    fixed_view, moving_view, warped_view = window.grid.views[:3]

    # Statistics shown are those of the whole fixed grid.
    expected = deformation_summary(truth, scene.fixed.geometry).stats
    text = window.overlay_panel.stats_label.text()
    assert f"min {expected['jacobian_min']:.4g}" in text and f"max {expected['jacobian_max']:.4g}" in text
    assert "no folds" in window.overlay_panel.fold_label.text()

    # Contours: one outline per label present in each view's label slice, in the colour table's colours.
    for view, layer in ((fixed_view, "fixed_labels"), (moving_view, "moving_labels"), (warped_view, "warped_labels")):
        labels, _grid = scene.slice(layer, view.plane, window.grid.link.cursor_mm)
        present = set(np.unique(labels).tolist()) - {0}
        assert set(_overlay(view, "contours").drawn_labels) == present
    # Jacobian image matches the slice; grid and arrows have geometry.
    axes, grid, index = fixed_view.current_slice()
    jacobian_image = _overlay(fixed_view, "jacobian").image.image
    assert jacobian_image.shape[:2] == grid.take(np.zeros(grid.geometry.shape), axes, index).shape
    assert _overlay(warped_view, "grid").curve.xData.size > 100
    assert _overlay(moving_view, "grid").curve.xData.size > 100
    assert _overlay(fixed_view, "arrows").curve.xData.size > 10
    assert "Agreement: all labels" in _overlay(window.grid.views[3], "agreement").legend.texts()
    # The Moving view's overlays use x = T^-1(y) (inverted on every second pixel, interpolated between).
    axes, moving_grid, moving_index = moving_view.current_slice()
    points, found = window.overlays.inverse(axes, moving_grid, moving_index)
    targets = slice_points(moving_grid, axes, moving_index)
    error = np.linalg.norm(truth.transform_points(points[found]) - targets[found], axis=-1)
    assert found.mean() > 0.95 and np.percentile(error, 95) < 0.05 and error.max() < 0.5  # 2 mm pixels

    # Label table: independent Dice of label 17 after the transform; sortable; a click goes into the label.
    table = window.label_table.table
    assert table.rowCount() == len(set(np.unique(scene.fixed_labels.array).tolist()) - {0})
    warped = resample_image(scene.moving_labels, scene.fixed.geometry, truth, "label")
    dice = metrics.dice_per_label(scene.fixed_labels.array, warped.array, [17])[17]
    row = next(r for r in range(table.rowCount()) if window.label_table.label_at(r) == 17)
    assert float(table.item(row, 3).text()) == pytest.approx(dice, abs=2e-3)
    assert table.item(row, 1).text() == "Left-Hippocampus"
    table.sortItems(3)
    column = [
        float(table.item(r, 3).text()) for r in range(table.rowCount()) if table.item(r, 3).text() not in ("-", "inf")
    ]
    assert column == sorted(column)
    row = next(r for r in range(table.rowCount()) if window.label_table.label_at(r) == 17)
    window.label_dock.raise_()
    qtbot.wait(20)
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert scene.value("fixed_labels", window.grid.link.cursor_mm) == 17
    assert window.overlays.settings.agreement_label == 17  # the agreement overlay follows the chosen label
    assert "Agreement: Left-Hippocampus" in _overlay(window.grid.views[3], "agreement").legend.texts()
    assert window.overlay_panel.agreement_combo.currentData() == 17
    _shot(window, tmp_path, "overlays_sample.png")


def folded_pair():
    """A blob image pair and a field with two folds: a large one and a smaller one (centres known)."""
    geometry = Geometry((24, 28, 26), (1.0, 1.0, 1.0), (-13.0, -14.0, -12.0), np.eye(3))
    points = geometry.voxel_centres_mm()
    blob = np.exp(-np.sum((points / np.array([9.0, 10.0, 8.0])) ** 2, axis=-1)) * 200
    image = Image(blob.astype(np.float32), geometry, name="blob")
    displacement = np.zeros(points.shape)
    centres = {"large": np.array([-5.0, -4.0, -3.0]), "small": np.array([6.0, 7.0, 5.0])}
    for name, strength, width in (("large", 5.0, 3.0), ("small", 2.2, 2.0)):
        offset = points - centres[name]
        weight = np.exp(-np.sum((offset / width) ** 2, axis=-1))
        displacement[..., 0] += -strength * offset[..., 0] * weight
    return image, DisplacementFieldTransform(displacement, geometry), centres


def test_next_fold_moves_the_cursor_to_each_fold_largest_first(qtbot, settings, tmp_path):
    image, field, centres = folded_pair()
    window = _window(qtbot, settings, fixed=image, moving=image, transform=field)
    window.overlay_dock.raise_()
    window.overlays.set_options("jacobian", enabled=True, views=[0, 2])
    assert window.overlays.wait_for_volume()
    qtbot.wait(20)
    folds = window.overlays.summary.folds
    assert len(folds) == 2 and folds[0].voxel_count > folds[1].voxel_count
    assert "-" in window.overlay_panel.stats_label.text().split("max")[0]  # a negative minimum
    next_button = window.overlay_panel.findChild(QPushButton, "nextFoldButton")
    previous_button = window.overlay_panel.findChild(QPushButton, "previousFoldButton")
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(window.grid.link.cursor_mm, centres["large"], atol=0.7)
    assert window.overlay_panel.fold_label.text().startswith("fold 1 / 2")
    # The Jacobian overlay of the slice through the fold shows fold-coloured pixels at the cursor.
    fixed_view = window.grid.views[0]
    axes, grid, index = fixed_view.current_slice()
    rgba = _overlay(fixed_view, "jacobian").image.image
    folded = np.all(rgba[..., :3] == FOLD_COLOUR, axis=-1) & (rgba[..., 3] == 255)
    assert folded.any()
    col, row = fixed_view.scene.space.scene_point(fixed_view.plane, window.grid.link.cursor_mm)
    r = int(round((row - grid.offset[axes.row]) / grid.spacing[axes.row]))
    c = int(round((col - grid.offset[axes.col]) / grid.spacing[axes.col]))
    assert folded[r - 1 : r + 2, c - 1 : c + 2].any()
    _shot(window, tmp_path, "overlays_fold.png")
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(window.grid.link.cursor_mm, centres["small"], atol=0.7)
    qtbot.mouseClick(previous_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(window.grid.link.cursor_mm, centres["large"], atol=0.7)


def test_previews_never_start_whole_volume_statistics(qtbot, settings):
    image, field, _centres = folded_pair()
    window = _window(qtbot, settings, fixed=image, moving=image)
    controller = window.overlays
    assert controller.wait_for_volume()
    before = controller.summary
    window.grid.set_transform(field, preview=True)
    qtbot.wait(2 * 150 + 50)
    assert not controller.computing and controller.summary is before
    assert not controller.current and "last final transform" in window.overlay_panel.stats_label.text()
    window.overlays.set_options("jacobian", enabled=True, views=[0])
    assert _overlay(window.grid.views[0], "jacobian").drawn  # the slice overlay follows previews
    window.grid.set_transform(field, preview=False)
    assert controller.computing
    assert controller.wait_for_volume()
    assert controller.summary is not before and controller.summary.stats["folded_count"] > 0
    assert controller.current and "last final transform" not in window.overlay_panel.stats_label.text()


def test_exports_write_what_the_views_show(qtbot, settings, tmp_path, errors):
    truth = read_transform(paths.SAMPLE_3D_TRUTH)
    window = _window(
        qtbot,
        settings,
        fixed=paths.SAMPLE_3D_FIXED,
        moving=paths.SAMPLE_3D_MOVING,
        moving_labels=paths.SAMPLE_3D_MOVING_LABELS,
        transform=truth,
    )
    fixed = window.grid.scene.fixed
    assert export_jacobian(window, tmp_path / "jacobian.nii.gz")
    assert export_displacement(window, tmp_path / "displacement.nii.gz")
    assert export_warped_labels(window, tmp_path / "warped_labels.nii.gz")
    det = read_image(tmp_path / "jacobian.nii.gz")
    np.testing.assert_allclose(det.array, deformation_summary(truth, fixed.geometry).det, atol=1e-5)
    assert det.geometry.same_as(fixed.geometry)
    field = read_displacement_field(tmp_path / "displacement.nii.gz")
    np.testing.assert_allclose(field.displacement, to_displacement_field(truth, fixed.geometry).displacement, atol=1e-4)
    labels = read_image(tmp_path / "warped_labels.nii.gz", is_label=True)
    expected = resample_image(window.grid.scene.moving_labels, fixed.geometry, truth, "label")
    assert np.array_equal(labels.array, expected.array)
    assert errors == []
    assert not export_jacobian(window, tmp_path / "jacobian.xyz")
    assert "unsupported extension" in errors[-1]
    window.load(replace_all=True, fixed=paths.SAMPLE_3D_FIXED, moving=paths.SAMPLE_3D_MOVING)
    assert not export_warped_labels(window, tmp_path / "none.nii.gz")
    assert "moving labels" in errors[-1]


def test_colour_table_file_names_labels_and_bad_files_give_a_dialog(qtbot, settings, tmp_path, errors):
    labels = np.zeros((1, 30, 30), dtype=np.uint8)
    labels[0, 5:15, 5:15] = 1
    labels[0, 15:25, 12:22] = 2
    geometry = Geometry((1, 30, 30), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    image = Image(labels.astype(np.float32) * 50, geometry, name="squares")
    label_image = Image(labels, geometry, is_label=True)
    window = _window(qtbot, settings, fixed=image, moving=image, fixed_labels=label_image, moving_labels=label_image)
    combo = window.overlay_panel.agreement_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["All labels", "1: Label 1", "2: Label 2"]
    table = tmp_path / "colours.ctbl"
    table.write_text("1 liver 200 100 50 255\n2 kidney 50 100 200 255\n")
    assert load_colour_table(window, table)
    assert [combo.itemText(i) for i in range(1, combo.count())] == ["1: liver", "2: kidney"]
    window.overlays.set_options("contours", enabled=True, views=[0])
    curves = _overlay(window.grid.views[0], "contours").curves
    colours = {curve.opts["pen"].color().getRgb()[:3] for curve in curves if curve.isVisible()}
    assert colours == {(200, 100, 50), (50, 100, 200)}
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a colour table\n")
    assert not load_colour_table(window, bad)
    assert "line 1" in errors[-1]
    assert [combo.itemText(i) for i in range(1, combo.count())] == ["1: liver", "2: kidney"]  # kept


def test_2d_pair_with_every_overlay(qtbot, settings, tmp_path):
    window = _window(qtbot, settings)
    assert window.open_sample("2d")
    scale = AffineTransform(np.array([[1.1, 0.05], [-0.05, 0.95]]), (3.0, -2.0))
    assert window.set_transform(scale)
    window.overlay_dock.raise_()
    _enable_everywhere(window, ("grid", "jacobian", "arrows"))
    assert window.overlays.wait_for_volume()
    qtbot.wait(20)
    det = _overlay(window.grid.views[0], "jacobian")
    assert det.drawn
    expected = np.linalg.det(scale.matrix)
    assert f"min {expected:.4g}" in window.overlay_panel.stats_label.text()
    assert _overlay(window.grid.views[1], "grid").curve.xData.size > 100
    _shot(window, tmp_path, "overlays_2d.png")


def test_export_menu_asks_for_a_file_and_the_label_interpolation(qtbot, settings, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    window = _window(
        qtbot,
        settings,
        fixed=paths.SAMPLE_3D_FIXED,
        moving=paths.SAMPLE_3D_MOVING,
        moving_labels=paths.SAMPLE_3D_MOVING_LABELS,
        transform=AffineTransform(np.eye(3), (2.0, 0.0, 0.0)),
    )
    target = tmp_path / "smooth_labels.nii.gz"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("per-label linear", True))
    action = next(
        a
        for a in window.findChildren(type(window.menuBar().actions()[0]))
        if a.objectName() == "exportWarpedLabelsAction"
    )
    action.trigger()
    written = read_image(target, is_label=True)
    assert written.geometry.same_as(window.grid.scene.fixed.geometry)
    assert set(np.unique(written.array)) <= set(np.unique(window.grid.scene.moving_labels.array))
