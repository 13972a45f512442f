"""Landmark placement, editing, live warp and files in the offscreen main window (pytest-qt)."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from regviewer.core.io import read_image
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import AffineTransform
from regviewer.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, shared_data):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    folder = shared_data / "brain2d"
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(
        fixed=read_image(folder / "r16slice.jpg"), moving=read_image(folder / "r85slice.jpg"), settings=settings
    )
    qtbot.addWidget(win)
    win.resize(1500, 950)
    win.show()
    qtbot.waitExposed(win)
    return win


def _pixel(view, point_mm) -> QPoint:
    """Viewport pixel of a physical point in a view (through the same mapping the view draws with)."""
    x, y = view.scene.space.scene_point(view.plane, point_mm)
    scene_pos = view.view_box.mapViewToScene(QPointF(x, y))
    return view.graphics.mapFromScene(scene_pos)


def _click(qtbot, view, point_mm) -> None:
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=_pixel(view, point_mm))


def _drag(qtbot, view, start_mm, end_mm, steps=6) -> None:
    """Press, move with the button held (QTest's mouseMove carries no buttons), release.

    Moves are spaced by 25 ms: pyqtgraph drops mouse moves that come faster than its frame rate.
    """
    viewport = view.graphics.viewport()
    start, end = _pixel(view, start_mm), _pixel(view, end_mm)

    def send(kind, pixel, buttons):
        button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
        event = QMouseEvent(
            kind, QPointF(pixel), QPointF(viewport.mapToGlobal(pixel)), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for step in range(1, steps + 1):
        pixel = start + (end - start) * step / steps
        qtbot.wait(25)
        send(QEvent.Type.MouseMove, pixel, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_clicks_place_pairs_in_order_and_only_in_landmark_mode(qtbot, window, tmp_path):
    controller = window.landmarks
    fixed_view, moving_view = window.grid.views[0], window.grid.views[1]
    _click(qtbot, fixed_view, (100.0, 120.0))
    assert len(controller.model) == 0  # not in landmark mode: a click only moves the cursor
    window.findChild(type(controller.panel.mode_button), "landmarkModeButton").click()
    assert controller.placing
    _click(qtbot, fixed_view, (100.0, 120.0))
    _click(qtbot, fixed_view, (150.0, 90.0))
    _click(qtbot, moving_view, (104.0, 118.0))
    _click(qtbot, moving_view, (155.0, 95.0))
    pairs = controller.model.pairs
    assert len(pairs) == 2 and all(p.complete for p in pairs)
    np.testing.assert_allclose(pairs[0].fixed, (100, 120), atol=1.5)  # within a screen pixel (~1 mm here)
    np.testing.assert_allclose(pairs[0].moving, (104, 118), atol=1.5)
    np.testing.assert_allclose(pairs[1].fixed, (150, 90), atol=1.5)
    np.testing.assert_allclose(pairs[1].moving, (155, 95), atol=1.5)
    # a click on an existing marker selects it, it adds nothing
    _click(qtbot, fixed_view, pairs[0].fixed)
    assert len(controller.model) == 2 and controller.selected == 0
    fixed, moving = window.landmark_pairs()
    assert fixed.shape == (2, 2) and moving.shape == (2, 2)
    # a drag that does not start on a marker never adds a point
    _drag(qtbot, fixed_view, (60.0, 60.0), (80.0, 70.0))
    assert len(controller.model) == 2
    assert controller.panel.table.rowCount() == 2 and controller.panel.table.item(0, 0).text() == pairs[0].name


def test_transform_suggests_the_partner_and_live_warp_follows_a_drag(qtbot, window, tmp_path):
    controller = window.landmarks
    shift = AffineTransform(np.eye(2), (4.0, -3.0))
    window.set_transform(shift)
    controller.set_placing(True)
    fixed_view, moving_view = window.grid.views[0], window.grid.views[1]
    for point in ((90.0, 90.0), (160.0, 95.0), (125.0, 160.0), (110.0, 60.0)):
        _click(qtbot, fixed_view, point)
    pairs = controller.model.pairs
    assert len(pairs) == 4 and all(p.complete for p in pairs)
    for pair in pairs:  # the moving partner is suggested at T(fixed)
        np.testing.assert_allclose(pair.moving, shift.transform_points(np.array(pair.fixed)), atol=1e-6)
    controller.set_fit(kind="tps", live=True)
    assert isinstance(window.grid.scene.transform, ThinPlateSplineTransform)
    previews = []
    window.grid.transformChanged.connect(previews.append)
    before = pairs[2].moving
    _drag(qtbot, moving_view, before, (before[0] + 6.0, before[1] + 4.0))
    moved = controller.model[2].moving
    np.testing.assert_allclose(moved, (before[0] + 6.0, before[1] + 4.0), atol=1.5)
    assert True in previews and previews[-1] is False  # live previews while dragging, a final fit on release
    final = window.grid.scene.transform
    assert isinstance(final, ThinPlateSplineTransform) and final.display_stride == 1
    np.testing.assert_allclose(final.transform_points(np.array(controller.model[2].fixed)), moved, atol=1e-6)
    assert controller.model.undo_text().startswith("move")  # the whole drag is one undo step
    controller.model.undo()
    assert controller.model[2].moving == before
    window.grid.views[2].set_mode("warped")
    assert window.save_screenshot(tmp_path / "landmarks_live.png")


def test_delete_undo_rename_toggle_reorder_from_the_panel(qtbot, window):
    controller = window.landmarks
    model = controller.model
    for i in range(3):
        model.add_pair((50.0 + 30 * i, 80.0), (52.0 + 30 * i, 83.0 + i))
    panel = controller.panel
    panel.table.cellClicked.emit(1, 2)
    assert controller.selected == 1
    np.testing.assert_allclose(window.grid.link.cursor_mm[:2], model[1].fixed)  # the views jump to the pair
    kept = model.pairs
    panel.delete_button.click()
    assert len(model) == 2 and model[1].name == "L3"
    window.findChild(type(window.menuBar().actions()[0]), "landmarkUndoAction").trigger()
    assert model.pairs == kept  # undo restores the deleted pair
    panel.table.item(0, 0).setText("nasion")
    assert model[0].name == "nasion"
    panel.table.item(2, 1).setCheckState(Qt.CheckState.Unchecked)
    assert not model[2].active
    controller.select(2, move_cursor=False)
    panel.up_button.click()
    assert [p.name for p in model.pairs] == ["nasion", "L3", "L2"]
    window.set_transform(AffineTransform(np.eye(2), (2.0, 3.0)))
    errors = [panel.table.item(row, 8).text() for row in range(3)]
    assert errors[0] == "0.00" and float(errors[2]) > 0  # residuals under the shown transform
    assert "held out" in panel.summary.text()


def test_import_export_round_trip_and_bad_files(qtbot, window, tmp_path):
    controller = window.landmarks
    model = controller.model
    model.add_pair((10.0, 20.0), (11.0, 22.0), name="a")
    model.add_pair((30.0, 40.0), None, name="b")
    assert controller.files.export_file(tmp_path / "pairs.csv", "bigwarp")
    assert controller.files.export_file(tmp_path / "fixed.fcsv", "fcsv", "fixed")
    assert controller.files.export_file(tmp_path / "moving.mrk.json", "mrk.json", "moving")  # only "a" has one
    saved = model.pairs
    model.clear()
    assert controller.files.import_file(tmp_path / "pairs.csv")
    assert model.pairs == saved
    model.clear()
    assert controller.files.import_file(tmp_path / "fixed.fcsv", side="fixed")
    assert [p.fixed for p in model.pairs] == [saved[0].fixed, saved[1].fixed] and model[0].moving is None
    model.move_row(1, 0)  # rows reordered: the moving points still find their pairs by name
    model.set_point(0, "moving", (1.0, 1.0))
    assert controller.files.import_file(tmp_path / "moving.mrk.json", side="moving")
    assert model[1].name == "a" and model[1].moving == saved[0].moving and model[0].moving == (1.0, 1.0)
    (tmp_path / "bad.csv").write_text("what,ever\n1,2\n")
    before = model.pairs
    assert not controller.files.import_file(tmp_path / "bad.csv", side="fixed")
    assert window.errors and "bad.csv" in window.errors[-1] and model.pairs == before


def test_3d_markers_only_near_the_slice_and_a_fit_with_too_few_pairs_explains_itself(qtbot, tmp_path, monkeypatch):
    from regviewer import paths

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(fixed=paths.SAMPLE_3D_FIXED, moving=paths.SAMPLE_3D_MOVING, settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    controller = win.landmarks
    cursor = win.grid.link.cursor_mm.copy()
    controller.model.add_pair(cursor + [10.0, 5.0, 0.0], cursor + [12.0, 4.0, 0.5])  # on the axial slice
    controller.model.add_pair(cursor + [0.0, 0.0, 30.0], cursor + [1.0, 0.0, 31.0])  # 15 slices above
    fixed_view = win.grid.views[0]
    assert [row for row, *_ in controller.markers[fixed_view].shown] == [0]
    fixed_view.set_plane("coronal")  # the second point has the cursor's y (on the coronal slice), the first is 5 mm off
    assert [row for row, *_ in controller.markers[fixed_view].shown] == [1]
    controller.select(1)  # the views jump to the second pair: now it is on the axial slice
    fixed_view.set_plane("axial")
    assert [row for row, *_ in controller.markers[fixed_view].shown] == [1]
    controller.set_fit(kind="affine")
    assert not controller.apply_fit()
    assert shown and "at least 4" in shown[-1]
