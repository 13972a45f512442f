"""A colour fundus pair in the window: every view mode in colour except the difference (registered channel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fundus import write_fundus_pair

from regviewer.gui.main_window import MainWindow

SHOTS = Path("/tmp/shots")


def test_fundus_pair_shows_in_colour_in_every_mode(qtbot, settings, tmp_path):
    fixed_path, moving_path, truth = write_fundus_pair(tmp_path, 256)
    window = MainWindow(settings=settings, fixed=str(fixed_path), moving=str(moving_path), transform=truth)
    qtbot.addWidget(window)
    window.resize(1200, 900)
    window.show()
    qtbot.waitExposed(window)
    views = window.grid.views
    for view in views[:3]:
        assert view.image_item.image.ndim == 3 and view.image_item.image.shape[-1] == 3, view.mode
    fixed_rgb = window.grid.scene.fixed.colour / 255.0
    assert np.allclose(views[0].image_item.image, fixed_rgb, atol=1e-6)
    comparison = views[3]
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / "fundus_window.png"))
    for mode in ("checkerboard", "blend", "flicker", "swipe"):
        comparison.set_mode(mode)
        shown = comparison.image_item.image
        assert shown.ndim == 3 and shown.shape[-1] == 3, mode
        red, green = shown[..., 0], shown[..., 1]
        assert np.abs(red - green).mean() > 0.05, mode  # really in colour, not grey repeated
    comparison.set_mode("checkerboard")
    comparison.grab().save(str(SHOTS / "fundus_checkerboard.png"))
    comparison.set_mode("difference")
    assert comparison.image_item.image.ndim == 2
    controls = window.controls  # colour maps do not apply to colour pictures: their boxes say so
    assert not controls.fixed_map.isEnabled() and not controls.moving_map.isEnabled()
    assert "own colours" in controls.fixed_map.toolTip()
    from regviewer.gui.status_text import cursor_report

    scene = window.grid.scene
    centre = scene.fixed.index_to_physical(np.array([[100.0, 120.0]]))[0]  # voxel x=100, y=120
    red, green, blue = (int(v) for v in scene.fixed.colour[120, 100])
    line = cursor_report(scene, centre)
    assert "fixed [100, 120] = " in line and f"(RGB {red}, {green}, {blue})" in line


def _window(qtbot, settings, fixed, moving, **items):
    window = MainWindow(settings=settings, fixed=str(fixed), moving=str(moving), **items)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_register_on_box_for_a_colour_pair_reaches_the_request_and_the_command(
    qtbot, settings, tmp_path, errors, monkeypatch
):
    from PySide6.QtWidgets import QComboBox

    fixed_path, moving_path, truth = write_fundus_pair(tmp_path, 128)
    window = _window(qtbot, settings, fixed_path, moving_path, transform=truth)
    dock = window.run_dock
    dock.runs_folder = tmp_path / "runs"
    combo = window.findChild(QComboBox, "channelCombo")
    assert combo is dock.channel_combo and not combo.isHidden()  # shown: both images are in colour
    assert [combo.itemData(i) for i in range(combo.count())] == ["luminance", "green", "red", "blue"]
    assert combo.currentData() == "luminance"
    dock.inputs.set_channel("blue")  # what `regviewer FIXED MOVING --channel blue` does
    assert combo.currentData() == "blue"
    combo.setCurrentIndex(combo.findData("green"))
    dock.select_preset("retina-2d")
    assert dock.mask_combo.currentText() == "Field of view (automatic)"
    jobs = []
    monkeypatch.setattr(dock.controller, "start", jobs.append)  # the job the worker would run
    record = dock.run()
    assert errors == [] and record is not None and len(jobs) == 1
    request = jobs[0].request
    scene = window.grid.scene
    assert np.array_equal(request.fixed.array, scene.fixed.colour[..., 1])
    assert np.array_equal(request.moving.array, scene.moving.colour[..., 1])
    assert request.fixed_mask is not None and request.moving_mask is not None  # the preset's field of view
    assert record.channel == "green" and record.auto_mask == "fov"
    assert record.snapshot()["channel"] == "green"  # saved with the session's run history
    line = dock.copy_command(record)
    assert errors == [] and "--channel green" in line and "--preset retina-2d" in line
    SHOTS.mkdir(exist_ok=True)
    dock.tabs.setCurrentIndex(0)
    window.grab().save(str(SHOTS / "fundus_register_on.png"))


def test_grey_pair_has_no_register_on_box(qtbot, settings, tmp_path, errors, monkeypatch):
    from regviewer import paths

    window = _window(qtbot, settings, paths.SAMPLE_2D_FIXED, paths.SAMPLE_2D_MOVING)
    dock = window.run_dock
    dock.runs_folder = tmp_path / "runs"
    assert dock.channel_combo.isHidden()
    assert window.controls.fixed_map.isEnabled() and window.controls.moving_map.isEnabled()
    dock.channel_combo.setCurrentIndex(dock.channel_combo.findData("green"))  # hidden: ignored
    jobs = []
    monkeypatch.setattr(dock.controller, "start", jobs.append)
    dock.select_method("affine")
    record = dock.run()
    assert record.channel is None and jobs[0].request.fixed is window.grid.scene.fixed
    assert "--channel" not in dock.copy_command(record) and errors == []
