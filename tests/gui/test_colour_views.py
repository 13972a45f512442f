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
