"""The main window and its linked views (pytest-qt, offscreen). Screenshots go to the test's tmp folder."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from regviewer.core import compose
from regviewer.core.image import Image
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform
from regviewer.gui.main_window import MainWindow
from tests.helpers import rotation


def _pair():
    """Fixed and moving volumes with anisotropic spacing, different sizes and origins, and a tilted moving grid."""
    z, y, x = np.mgrid[0:24, 0:40, 0:36].astype(np.float32)
    blob = np.exp(-(((x - 18) / 8) ** 2 + ((y - 20) / 10) ** 2 + ((z - 12) / 6) ** 2))
    fixed = Image.from_array(blob * 100, spacing=(1.0, 0.8, 2.5), origin=(-18.0, -16.0, -30.0), name="fixed")
    z, y, x = np.mgrid[0:30, 0:32, 0:30].astype(np.float32)
    blob = np.exp(-(((x - 15) / 7) ** 2 + ((y - 16) / 8) ** 2 + ((z - 15) / 7) ** 2))
    moving = Image.from_array(
        blob * 200, spacing=(1.3, 1.1, 2.0), origin=(-20.0, -15.0, -28.0), direction=rotation((0, 0, 10)), name="moving"
    )
    return fixed, moving


def _window(qtbot, settings, **content):
    window = MainWindow(settings=settings, **content)
    qtbot.addWidget(window)
    window.resize(1200, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def _click(qtbot, view, fraction=(0.3, 0.6)):
    viewport = view.graphics.viewport()
    pixel = QPoint(int(viewport.width() * fraction[0]), int(viewport.height() * fraction[1]))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pixel)
    scene_pos = view.view_box.mapSceneToView(view.graphics.mapToScene(pixel))
    return scene_pos.x(), scene_pos.y()


def test_demo_opens_with_images_and_labels(qtbot, settings, tmp_path):
    window = _window(qtbot, settings)
    assert window.open_sample("3d")
    scene = window.grid.scene
    assert scene.fixed is not None and scene.moving is not None and scene.fixed_labels is not None
    for view in window.grid.views:
        assert view.image_item.image is not None and view.image_item.image.size > 0
    assert window.grid.views[0].label_item.image is not None
    assert "LPS" in window.status_label.text() and "warped" in window.status_label.text()
    assert window.save_screenshot(tmp_path / "demo3d.png")
    assert (tmp_path / "demo3d.png").stat().st_size > 10_000
    assert window.open_sample("2d")
    assert window.grid.scene.fixed.ndim == 2 and window.grid.scene.fixed_labels is None


@pytest.mark.parametrize("clicked", [0, 1, 3])
def test_click_moves_every_crosshair_to_the_same_mm_point(qtbot, settings, clicked):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    views = window.grid.views
    views[1].set_plane("coronal")
    scene_x, scene_y = _click(qtbot, views[clicked])
    space = window.grid.scene.space
    cursor = window.grid.link.cursor_mm
    assert space.scene_point(views[clicked].plane, cursor) == pytest.approx((scene_x, scene_y), abs=1e-6)
    for view in views:
        crosshair = (view.v_line.value(), view.h_line.value())
        assert crosshair == pytest.approx(space.scene_point(view.plane, cursor), abs=1e-6)
    # The moving view shows the moving slice that contains the cursor (its own grid, no resampling here).
    index = window.grid.scene.voxel_index("moving", cursor)
    assert index is not None
    assert f"moving [{index[0]}, {index[1]}, {index[2]}]" in window.status_label.text()


def test_zoom_and_pan_are_linked(qtbot, settings):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    first, last = window.grid.views[0], window.grid.views[3]
    first.view_box.scaleBy((0.5, 0.5))  # a user zoom (emits sigRangeChangedManually)
    first.view_box.sigRangeChangedManually.emit(first.view_box.state["mouseEnabled"])
    (x0, x1), (y0, y1) = first.view_box.viewRange()
    (u0, u1), (v0, v1) = last.view_box.viewRange()
    assert (u0 + u1) / 2 == pytest.approx((x0 + x1) / 2, abs=0.5)
    assert (v0 + v1) / 2 == pytest.approx((y0 + y1) / 2, abs=0.5)
    assert min(u1 - u0, v1 - v0) == pytest.approx(min(x1 - x0, y1 - y0), rel=0.05)


def test_keys_step_slices_along_the_plane_normal(qtbot, settings):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    view = window.grid.views[0]
    start = view.slider.value()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.slider.value() == start - 11
    slice_z = fixed.index_to_physical(np.array([0.0, 0.0, start - 11]))[2]
    assert window.grid.link.cursor_mm[2] == pytest.approx(slice_z)
    assert window.grid.views[3].slider.value() == start - 11  # the other axial views follow
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.slider.value() == start


def test_warped_and_checkerboard_views_show_the_right_pixels(qtbot, settings, tmp_path):
    fixed, moving = _pair()
    transform = AffineTransform(rotation((3, -2, 8)), np.array([2.0, -1.0, 1.5]))
    window = _window(qtbot, settings, fixed=fixed, moving=moving, transform=transform)
    warped_view, checker_view = window.grid.views[2], window.grid.views[3]
    link, scene = window.grid.link, window.grid.scene
    full = resample_image(moving, fixed.geometry, transform).array
    index = scene.grid("fixed").slice_index(scene.space.axes("axial"), scene.space.to_display(link.cursor_mm))
    expected_warped = compose.normalise(full[index], link.windows["moving"])
    shown, _grid = warped_view.composed_slice()
    assert np.allclose(shown, expected_warped, atol=1e-5)
    assert np.allclose(warped_view.image_item.image, expected_warped, atol=1e-5)
    expected_fixed = compose.normalise(fixed.array[index], link.windows["fixed"])
    link.set_options(tile_mm=8.0)
    board = checker_view.image_item.image
    tile = compose.checker_mask(board.shape, (8.0 / fixed.spacing[1], 8.0 / fixed.spacing[0]))
    assert tile.any() and (~tile).any()
    assert np.allclose(board[tile], expected_fixed[tile]) and np.allclose(board[~tile], expected_warped[~tile])
    for mode in ("checkerboard", "difference", "blend", "flicker", "swipe"):
        checker_view.set_mode(mode)
        assert checker_view.image_item.image is not None
        window.save_screenshot(tmp_path / f"mode_{mode}.png")
    checker_view.set_mode("difference")
    assert np.allclose(checker_view.image_item.image, expected_fixed - expected_warped, atol=1e-5)


def test_window_level_changes_the_display(qtbot, settings):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    view = window.grid.views[0]
    before_window = window.grid.link.windows["fixed"]
    before_image = view.image_item.image.copy()
    view.drag_window(40, -25)  # what a right-drag does
    after_window = window.grid.link.windows["fixed"]
    assert after_window.window > before_window.window and after_window.level > before_window.level
    assert not np.allclose(view.image_item.image, before_image)
    assert window.grid.link.windows["moving"] == before_window or window.grid.link.windows["moving"] != after_window
    index = window.controls.window_combo.findData("CT lung")
    window.controls.window_combo.activated.emit(index)
    assert window.grid.link.windows["fixed"] == compose.WindowLevel(1500, -600)


def test_bad_file_shows_an_error_and_keeps_the_images(qtbot, settings, errors, tmp_path):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image at all")
    assert not window.load(moving=str(broken))
    assert errors and "broken.nii.gz" in errors[-1]
    assert window.grid.scene.moving is moving
    flat = Image.from_array(np.zeros((10, 10), np.float32))
    assert not window.load(moving=flat)
    assert "dimension" in errors[-1] and window.grid.scene.moving is moving


def test_recent_files_and_drop(qtbot, settings, tmp_path):
    from regviewer import paths

    window = _window(qtbot, settings)
    assert window.drop_files([str(paths.SAMPLE_2D_FIXED), str(paths.SAMPLE_2D_MOVING)])
    assert window.grid.scene.moving.name == paths.SAMPLE_2D_MOVING.name
    assert ("moving", str(paths.SAMPLE_2D_MOVING)) in window.recent_files()
    assert window.drop_files([str(paths.SAMPLE_2D_FIXED)], onto_moving=True)
    assert window.grid.scene.moving.name == paths.SAMPLE_2D_FIXED.name


def test_layouts(qtbot, settings):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    for name, count in (("1x3", 3), ("1x1", 1), ("2x2", 4)):
        window.set_layout(name)
        assert len(window.grid.shown_views()) == count


def test_shift_wheel_tile_change_moves_the_toolbar_slider(qtbot, settings):
    fixed, moving = _pair()
    window = _window(qtbot, settings, fixed=fixed, moving=moving)
    before = window.grid.link.options.tile_mm
    window.grid.views[3].change_tile(3)  # what Shift + wheel does
    assert window.grid.link.options.tile_mm == pytest.approx(before * 1.25**3)
    assert window.controls.tile_slider.value() == round(window.grid.link.options.tile_mm)
