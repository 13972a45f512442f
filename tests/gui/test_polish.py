"""What a new user met in the window, mended: each finding of NEW_USER_FINDINGS.md has a test here.

Screenshots go to /tmp/shots_r7_polish (looked at while building this).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from regviewer import paths
from regviewer.core.io.transforms_io import read_transform
from regviewer.gui.hint_text import description_html
from regviewer.gui.main_window import MainWindow
from regviewer.gui.view_state import CompareOptions

SHOTS = Path("/tmp/shots_r7_polish")


def _window(qtbot, settings, width=1280, height=720) -> MainWindow:
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    return window


def _shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / name))


def _menu_action(window, text: str) -> QAction:
    return next(a for a in window.findChildren(QAction) if a.text().replace("&", "") == text)


def test_toolbar_plane_box_follows_view_menu_and_single_views(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    combo = window.controls.plane_combo
    assert combo.currentText() == "Axial"
    _menu_action(window, "Coronal in All Views").trigger()
    assert combo.currentText() == "Coronal" and all(v.plane == "coronal" for v in window.grid.views)
    _menu_action(window, "Sagittal in All Views").trigger()
    assert combo.currentText() == "Sagittal"
    window.grid.views[1].set_plane("axial")  # one view's own selector: the views now differ
    assert combo.currentIndex() == -1 and combo.currentText() == ""
    window.grid.views[1].set_plane("sagittal")
    assert combo.currentText() == "Sagittal"


def test_1x3_at_1280x720_titles_whole_and_no_toolbar_overflow(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    window.set_layout("1x3")
    qtbot.wait(50)
    toolbar = window.controls
    widgets = [toolbar.widgetForAction(a) for a in toolbar.actions() if toolbar.widgetForAction(a) is not None]
    assert widgets and all(w.isVisible() for w in widgets)  # nothing pushed into the >> extension menu
    assert toolbar.sizeHint().width() <= toolbar.width()
    for view in window.grid.shown_views():
        text = view.title.text()
        assert view.title.fontMetrics().horizontalAdvance(text) <= view.title.contentsRect().width(), text
        assert view.title.toolTip() == text
    _shot(window, "polish_1x3_1280x720.png")


def test_legends_sit_beside_the_image_and_difference_has_a_colour_bar(qtbot, settings):
    window = _window(qtbot, settings, 1500, 950)
    assert window.open_sample("3d")
    assert window.set_transform(read_transform(paths.SAMPLE_3D_TRUTH))
    window.overlays.set_options("jacobian", enabled=True, views=[0, 2])
    window.overlays.set_options("agreement", enabled=True, views=[2])
    assert window.overlays.wait_for_volume(60)
    compare = window.grid.views[3]
    compare.set_mode("difference")
    qtbot.wait(50)
    for view in (window.grid.views[0], window.grid.views[2], compare):
        assert view.legends.isVisible()
        image_area = QRect(view.graphics.mapTo(view, view.graphics.rect().topLeft()), view.graphics.size())
        for legend in view.legends.legends:
            if legend.isVisible():
                area = QRect(legend.mapTo(view, legend.rect().topLeft()), legend.size())
                assert not area.intersects(image_area)  # never over the anatomy
    assert not window.grid.views[1].legends.isVisible()  # no legend: the view keeps its full width
    assert compare.difference_legend.isVisible() and "fixed - warped" in compare.difference_legend.texts()
    compare.set_mode("checkerboard")
    assert not compare.difference_legend.isVisible() and not compare.legends.isVisible()
    compare.set_mode("difference")
    qtbot.wait(20)
    _shot(window, "polish_legends.png")


def test_2d_images_hide_plane_selectors_and_slice_sliders(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("2d")
    for view in window.grid.views:
        assert not view.plane_combo.isVisible() and not view.slider.isVisible() and not view.slice_label.isVisible()
    assert not window.controls.plane_combo.isEnabled()
    _shot(window, "polish_2d.png")
    assert window.open_sample("3d")
    for view in window.grid.views:
        assert view.plane_combo.isVisible() and view.slider.isVisible() and view.slice_label.isVisible()
    assert window.controls.plane_combo.isEnabled()


def test_screenshots_leave_out_the_selectors_and_sliders(qtbot, settings, tmp_path, monkeypatch):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    grid = window.grid
    seen = []
    original = grid.grab

    def grab(*args):
        seen.append(
            [
                (v.mode_combo.isVisible(), v.plane_combo.isVisible(), v.slider.isVisible(), v.title.text())
                for v in grid.shown_views()
            ]
        )
        return original(*args)

    monkeypatch.setattr(grid, "grab", grab)
    assert window.save_screenshot(tmp_path / "shot.png")
    assert seen and all(not any(state[:3]) for state in seen[0])
    assert [state[3] for state in seen[0]][:2] == ["Fixed: fixed.nii.gz", "Moving: moving.nii.gz"]
    for view in grid.shown_views():  # and the window shows them again
        assert view.mode_combo.isVisible() and view.slider.isVisible()
        assert view.title.text() in ("fixed.nii.gz", "moving.nii.gz", "fixed / warped")
    monkeypatch.undo()
    assert window.save_screenshot(SHOTS / "polish_saved_screenshot.png")


def test_window_drag_shows_numbers_and_the_preset_box_says_custom(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    view = window.grid.views[0]
    assert window.controls.window_combo.currentText() == "Auto"
    view.drag_window(40, -15)
    window_level = window.grid.link.windows["fixed"]
    readout = view.window_readout
    assert readout.isVisible()
    assert f"W {window_level.window:.0f}" in readout.text() or f"W {window_level.window:.3g}" in readout.text()
    assert window.controls.window_combo.currentText() == "Custom"
    _shot(view, "polish_window_drag.png")
    qtbot.waitUntil(lambda: not readout.isVisible(), timeout=4000)
    combo = window.controls.window_combo
    combo.activated.emit(combo.findText("Auto"))
    assert combo.currentText() == "Auto"
    combo.activated.emit(combo.findText("Custom"))  # "Custom" is shown, never applied
    assert window.grid.window_preset == "Auto"


def test_f8_without_folds_says_so(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    assert window.overlays.wait_for_volume(60)
    _menu_action(window, "Next Fold").trigger()
    assert "No folds" in window.statusBar().currentMessage()


def test_status_bar_names_labels_from_the_colour_table(qtbot, settings):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    scene = window.grid.scene
    labels = scene.fixed_labels.array
    index = np.argwhere(labels == 17)[0]  # Left-Hippocampus in FreeSurfer's table
    point = scene.fixed_labels.index_to_physical(index[::-1].astype(float))
    window.grid.set_cursor(point)
    assert "fixed labels 17 Left-Hippocampus" in window.status_label.text()


def test_default_label_opacity_keeps_the_anatomy_visible():
    assert CompareOptions().label_opacity <= 0.3


def test_method_tips_stand_out_in_the_description():
    from regviewer.registration.network import NetworkMethod

    text = description_html(NetworkMethod.description)
    assert "<br><b>Tip: run an affine stage first" in text
    assert description_html("a < b & c") == "a &lt; b &amp; c"


@pytest.mark.parametrize("size", [(1280, 720)])
def test_registration_description_is_readable(qtbot, settings, size):
    window = _window(qtbot, settings, *size)
    from PySide6.QtWidgets import QLabel

    label = window.findChild(QLabel, "presetDescription")
    assert label is not None and "palette(mid)" not in label.styleSheet()
    palette = QApplication.palette()
    assert label.palette().color(label.foregroundRole()).lightness() < palette.window().color().lightness() - 80


def test_atlas_names_come_from_a_table_beside_the_label_file(qtbot, settings, tmp_path):
    from regviewer.core.io import read_image, write_image
    from regviewer.gui.panels.label_table import LabelTablePanel

    fixed_labels = read_image(paths.SAMPLE_3D_FIXED_LABELS, is_label=True)
    moving_labels = read_image(paths.SAMPLE_3D_MOVING_LABELS, is_label=True)
    shifted = {}
    for name, image in (("atlas_fixed", fixed_labels), ("atlas_moving", moving_labels)):
        array = np.where(image.array > 0, image.array.astype(np.uint16) + 3000, 0).astype(np.uint16)
        shifted[name] = write_image(image.with_array(array), tmp_path / f"{name}.nii.gz")
    values = sorted(int(v) for v in np.unique(read_image(shifted["atlas_fixed"], is_label=True).array) if v)
    (tmp_path / "atlas_fixed.xml").write_text(
        "<atlas><data>"
        + "".join(f"<label><index>{v}</index><name>Region_{v}_L</name></label>" for v in values)
        + "</data></atlas>",
        encoding="utf-8",
    )
    window = _window(qtbot, settings, 1400, 900)
    assert window.load(
        fixed=paths.SAMPLE_3D_FIXED,
        moving=paths.SAMPLE_3D_MOVING,
        fixed_labels=shifted["atlas_fixed"],
        moving_labels=shifted["atlas_moving"],
    )
    qtbot.waitUntil(lambda: window.overlays.colour_table().source == "atlas_fixed.xml", timeout=3000)
    assert window.overlays.colour_table().name(values[3]) == f"Region_{values[3]}_L"
    assert window.overlays.wait_for_volume(60)
    panel = window.findChild(LabelTablePanel)
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=5000)
    names = {panel.table.item(r, 1).text() for r in range(panel.table.rowCount())}
    assert all(name.startswith("Region_") for name in names)
    point = window.grid.scene.fixed_labels.index_to_physical(
        np.argwhere(window.grid.scene.fixed_labels.array == values[3])[0][::-1].astype(float)
    )
    window.grid.set_cursor(point)
    assert f"fixed labels {values[3]} Region_{values[3]}_L" in window.status_label.text()
    # a name list without colours, with a header line, is read too
    (tmp_path / "atlas_fixed.xml").unlink()
    (tmp_path / "atlas_fixed.csv").write_text(
        "index,name\n" + "".join(f"{v},Area{v}\n" for v in values), encoding="utf-8"
    )
    assert window.load(fixed_labels=shifted["atlas_fixed"])
    qtbot.waitUntil(lambda: window.overlays.colour_table().source == "atlas_fixed.csv", timeout=3000)
    assert window.overlays.colour_table().name(values[0]) == f"Area{values[0]}"
