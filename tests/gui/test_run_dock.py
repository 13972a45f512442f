"""Registration runs from the dock (pytest-qt, offscreen): completion, progress order, cancel, failures,
history, compare, chaining. Screenshots go to /tmp/shots_r3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from regviewer import paths
from regviewer.core.transforms import AffineTransform
from regviewer.gui.main_window import MainWindow
from regviewer.gui.run.parameter_form import ParameterForm
from regviewer.registration.registry import default_registry
from tests.gui.run_methods import make_registry

SHOTS = Path("/tmp/shots_r3")


@pytest.fixture
def window(qtbot, tmp_path, errors):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(fixed=paths.SAMPLE_2D_FIXED, moving=paths.SAMPLE_2D_MOVING, settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.run_dock.runs_folder = tmp_path / "runs"
    yield window
    window.run_dock.shutdown()


def _wait(qtbot, dock, timeout=60000):
    qtbot.waitUntil(lambda: not dock.controller.busy, timeout=timeout)


def _warped_slice(window):
    return window.grid.views[2].image_item.image.copy()


def test_the_dock_lists_presets_first_and_every_method(window):
    dock = window.run_dock
    presets = [dock.preset_combo.itemText(i) for i in range(dock.preset_combo.count())]
    assert presets[:4] == ["Rigid", "Affine", "Deformable (B-spline)", "Rigid -> Affine -> B-spline"]
    assert presets[-1] == "Single method"
    methods = [dock.method_combo.itemData(i) for i in range(dock.method_combo.count())]
    assert methods == default_registry().names()
    for name in (
        "methodCombo",
        "presetCombo",
        "runButton",
        "cancelButton",
        "progressBar",
        "historyList",
        "copyCommandButton",
    ):
        assert window.findChild(object, name) is not None, name


def test_a_run_completes_into_the_history_and_the_views(qtbot, window, errors):
    dock = window.run_dock
    dock.select_method("rigid")
    steps = []
    dock.controller.progressed.connect(lambda batch: steps.extend(batch))
    before = _warped_slice(window)
    record = dock.run()
    assert record is not None and dock.controller.busy and not dock.run_button.isEnabled()
    _wait(qtbot, dock)
    assert record.status == "completed" and errors == []
    assert window.grid.scene.transform is record.result.transform
    assert not np.allclose(_warped_slice(window), before)  # the Warped view shows the result
    assert dock.history_list.count() == 1 and "completed" in dock.history_list.item(0).text()
    assert record.figures["after"]["ncc"] > record.figures["before"]["ncc"] + 0.2
    assert "NCC" in dock.history_list.item(0).text() and "NCC" in dock.history.details.toPlainText()
    assert dock.progress_bar.value() == dock.progress_bar.maximum()
    assert dock.progress.points() == len(record.result.metric_history) > 10
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()
    # progress arrives in order: levels never go back, iterations grow within a level
    places = [(step.stage_index, step.level, step.iteration) for step in steps if step.metric is not None]
    assert places == sorted(places) and len(places) == len(record.result.metric_history)
    assert [step.level for step in steps if step.metric is None] == [0, 1, 2]  # one event at each level start
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / "run_completed.png"))


def test_a_chain_reports_its_stages_in_order(qtbot, window):
    dock = window.run_dock
    dock.select_preset("affine")  # rigid then affine
    dock.form.set_values({"iterations": 30})
    steps = []
    dock.controller.progressed.connect(lambda batch: steps.extend(batch))
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "completed" and record.stages[0].parameters["iterations"] == 30
    indices = [step.stage_index for step in steps]
    assert indices == sorted(indices) and set(indices) == {0, 1}
    assert {step.stage for step in steps if step.stage_index == 1} == {"affine"}


def test_cancel_keeps_the_last_transform(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    previews = []
    dock.controller.previewed.connect(lambda payload: previews.append(payload[1]))
    record = dock.run()
    qtbot.waitUntil(lambda: len(previews) >= 2, timeout=10000)  # live previews arrive during the run
    assert window.grid.scene.transform is not None  # the views show an intermediate transform
    dock.cancel_button.click()
    _wait(qtbot, dock, 5000)
    assert record.status == "cancelled" and errors == []
    shift = record.result.transform.translation[0]
    assert 0.05 < shift < 0.05 * 4000 - 1  # stopped part-way, kept where it was
    assert window.grid.scene.transform is record.result.transform
    assert "cancelled" in dock.history_list.item(0).text()
    assert record.figures is not None and "after" in record.figures  # a cancelled result is scored too


def test_a_failing_engine_gives_an_error_entry_and_the_window_goes_on(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(make_registry())
    shown_before = window.grid.scene.transform
    dock.select_method("exploding")
    failed = dock.run()
    _wait(qtbot, dock)
    assert failed.status == "failed" and "plugin exploded" in failed.result.message
    assert len(errors) == 1 and "plugin exploded" in errors[0]
    assert "failed" in dock.history_list.item(0).text()
    assert window.grid.scene.transform is shown_before
    dock.select_method("rigid")  # the window still works: another run completes
    ok = dock.run()
    _wait(qtbot, dock)
    assert ok.status == "completed" and dock.history_list.count() == 2
    assert dock.start_combo.findData(failed.run_id) < 0 and dock.start_combo.findData(ok.run_id) >= 0
    broken = dock.method_combo.findText("broken-plugin (failed to load)")
    assert broken >= 0 and not dock.method_combo.model().item(broken).isEnabled()


def test_invalid_parameters_are_refused_before_a_run(qtbot, window, errors):
    dock = window.run_dock
    dock.select_method("rigid")
    dock.form.editors["shrink_factors"].setText("4, two, 1")
    assert dock.run() is None
    assert len(errors) == 1 and "Shrink factors" in errors[0]
    assert dock.history_list.count() == 0 and not dock.controller.busy
    assert "border" in dock.form.editors["shrink_factors"].styleSheet()
    dock.form.editors["shrink_factors"].setText("2, 1")
    dock.form.editors["smoothing_sigmas"].setText("1, 0")
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "completed" and record.stages[0].parameters["shrink_factors"] == (2, 1)


def test_the_form_follows_the_schema(qtbot):
    form = ParameterForm(default_registry().get("bspline").parameters)
    qtbot.addWidget(form)
    form.show()
    assert isinstance(form.editors["iterations"], QSpinBox) and form.editors["iterations"].maximum() == 1000
    assert isinstance(form.editors["metric"], QComboBox) and isinstance(form.editors["auto_mask"], QCheckBox)
    assert isinstance(form.editors["samples"], QLineEdit)
    assert "control points" in form.editors["mesh_spacing_mm"].toolTip()
    assert not form.editors["samples"].isVisible() and form.editors["iterations"].isVisible()
    form.expert_toggle.setChecked(True)
    assert form.editors["samples"].isVisible()
    form.editors["mesh_spacing_mm"].setValue(1000)  # clamped to the schema's maximum
    assert form.values()["mesh_spacing_mm"] == 500.0
    network = ParameterForm(default_registry().get("network").parameters)
    qtbot.addWidget(network)
    assert network.editors["passes"].text() == "model's own" and network.values()["passes"] == 0
    network.editors["passes"].setValue(2)
    assert network.editors["passes"].text() == "2"


def test_compare_two_runs_side_by_side(qtbot, window):
    dock = window.run_dock
    dock.select_method("rigid")
    first = dock.run()
    _wait(qtbot, dock)
    dock.select_method("affine")
    second = dock.run()
    _wait(qtbot, dock)
    dock.history_list.selectAll()
    assert dock.history.compare_button.isEnabled()
    dock.history.compare_button.click()
    third, fourth = window.grid.views[2], window.grid.views[3]
    assert third.mode == fourth.mode == "warped"
    assert third.scene.transform is first.result.transform and fourth.scene.transform is second.result.transform
    assert not np.allclose(third.image_item.image, fourth.image_item.image)
    assert dock.comparison.badges[1].text().startswith("Run #2")
    window.grab().save(str(SHOTS / "run_compare.png"))
    window.set_transform(None)  # another transform ends the comparison
    assert fourth.scene is window.grid.scene and fourth.mode == "checkerboard"


def test_use_as_start_chains_runs(qtbot, window):
    dock = window.run_dock
    dock.select_method("rigid")
    first = dock.run()
    _wait(qtbot, dock)
    dock.history.select(first)
    dock.history.start_button.click()
    assert dock.start_combo.currentData() == first.run_id
    dock.select_method("affine")
    second = dock.run()
    _wait(qtbot, dock)
    assert second.initial_transform is first.result.transform and second.status == "completed"
    assert "run #1" in second.details()


def test_selecting_a_run_shows_it(qtbot, window):
    dock = window.run_dock
    dock.select_method("rigid")
    first = dock.run()
    _wait(qtbot, dock)
    window.set_transform(AffineTransform.identity(2))
    dock.history_list.clearSelection()
    dock.history.select(first)
    assert window.grid.scene.transform is first.result.transform


def test_an_engine_slow_to_stop_is_cancelled_at_once_with_its_last_transform(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    dock.form.set_values({"step_s": 1.5})  # one "iteration" takes 1.5 s: longer than the cancel grace
    previews, finished = [], []
    dock.controller.previewed.connect(lambda payload: previews.append(payload[1]))
    dock.controller.finished.connect(lambda payload: finished.append(payload[1]))
    record = dock.run()
    qtbot.waitUntil(lambda: dock.progress.points() >= 1, timeout=10000)
    dock.cancel_button.click()
    qtbot.waitUntil(lambda: record.result is not None, timeout=1500)  # the stand-in, before the engine stops
    assert record.status == "cancelled" and "last reported transform" in record.result.message
    assert dock.controller.busy  # the engine is still finishing its step in the background
    assert record.result.transform.translation[0] == pytest.approx(0.05)  # step 0's transform
    assert window.grid.scene.transform is record.result.transform
    _wait(qtbot, dock, 10000)
    assert len(finished) == 1 and finished[0] is record.result  # the engine's late result is not sent again
    assert record.figures is not None and "after" in record.figures and dock.run_button.isEnabled()


def test_landmarks_from_the_window_reach_the_engine_the_figures_and_the_command(qtbot, window):
    from regviewer.core.io.landmarks_io import read_points_csv

    fixed_points = np.array([[60.0, 80.0], [190.0, 70.0], [128.0, 200.0], [100.0, 128.0]])
    moving_points = fixed_points + [3.0, -2.0]
    for fixed_point, moving_point in zip(fixed_points, moving_points):  # placed in the window's landmark model
        window.landmarks.model.add_pair(fixed_point, moving_point)
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 20, "step_s": 0.0})
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "completed" and np.array_equal(record.fixed_landmarks, fixed_points)
    assert np.array_equal(record.moving_landmarks, moving_points)
    before, after = record.figures["before"]["tre_mean_mm"], record.figures["after"]["tre_mean_mm"]
    assert before == pytest.approx(np.hypot(3.0, 2.0))
    assert after != pytest.approx(before)  # the 1 mm shift along x changed the landmark error
    assert "TRE" in dock.history_list.item(0).text()
    line = dock.copy_command(record)
    argv = line.split()
    _, written = read_points_csv(argv[argv.index("--moving-landmarks") + 1])
    assert np.allclose(written, moving_points) and "--fixed-landmarks" in argv


def test_labels_and_masks_are_named_in_the_command(qtbot, window, shared_data):
    fixed_labels, moving_labels = (
        shared_data / "brain2d" / "r16sliceLM.nii.gz",
        shared_data / "brain2d" / "r85sliceLM.nii.gz",
    )
    assert window.load(fixed_labels=fixed_labels, moving_labels=moving_labels)
    dock = window.run_dock
    assert [dock.mask_combo.itemText(i) for i in range(dock.mask_combo.count())] == [
        "No mask",
        "Fixed labels > 0",
        "Fixed and moving labels > 0",
    ]
    dock.mask_combo.setCurrentIndex(2)
    assert dock.labels_check.isEnabled() and dock.labels_check.isChecked()
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 10, "step_s": 0.0})
    record = dock.run()
    _wait(qtbot, dock)
    assert record.mask_roles == ("fixed", "moving") and record.use_labels
    assert "dice_mean" in record.figures["after"]  # the label maps are scored
    argv = dock.copy_command(record).split()
    for option, path in (
        ("--fixed-mask", fixed_labels),
        ("--moving-mask", moving_labels),
        ("--fixed-labels", fixed_labels),
        ("--moving-labels", moving_labels),
    ):
        assert argv[argv.index(option) + 1] == str(path)


def test_opening_other_images_during_a_run_keeps_its_result_out_of_them(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    previews = []
    dock.controller.previewed.connect(lambda payload: previews.append(payload))
    record = dock.run()
    qtbot.waitUntil(lambda: len(previews) >= 1, timeout=10000)
    assert window.open_sample("3d")  # 3D images while a 2D run goes on
    qtbot.wait(600)  # more 2D previews arrive: they must not reach the 3D views
    dock.cancel()
    _wait(qtbot, dock, 5000)
    assert record.status == "cancelled" and errors == []
    assert window.grid.scene.transform is None and window.grid.scene.fixed.ndim == 3
    assert dock.history_list.count() == 1 and "cancelled" in dock.history_list.item(0).text()
    dock.history.select(record)
    assert window.grid.scene.transform is None
    assert dock.start_combo.findData(record.run_id) < 0


def test_an_engine_error_in_the_child_process_is_a_failed_run_with_its_reason(qtbot, window, errors):
    dock = window.run_dock
    dock.select_method("rigid")
    assert dock.isolate_check.isEnabled() and dock.isolate_check.isChecked()  # registry methods run in a child
    dock.form.editors["shrink_factors"].setText("2, 1")
    dock.form.editors["smoothing_sigmas"].setText("1")  # valid values, but not one per level
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "failed" and "2 shrink factors but 1 smoothing sigmas" in record.result.message
    assert len(errors) == 1 and "smoothing sigmas" in errors[0]
    assert "failed" in dock.history_list.item(0).text() and dock.run_button.isEnabled()


def test_a_run_can_start_from_an_affine_fit_to_the_placed_landmarks(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 3, "step_s": 0.0})
    start = dock.start_combo.findData("landmarks")
    assert start >= 0
    dock.start_combo.setCurrentIndex(start)
    assert dock.run() is None and "landmark pairs" in errors[-1]  # none placed yet: a dialog, no run

    known = AffineTransform(np.array([[1.05, 0.1], [-0.08, 0.95]]), [4.0, -3.0])
    fixed_points = np.array([[60.0, 80.0], [190.0, 70.0], [128.0, 200.0], [100.0, 128.0], [150.0, 150.0]])
    for point, partner in zip(fixed_points, known.transform_points(fixed_points)):
        window.landmarks.model.add_pair(fixed=point, moving=partner)
    dock.start_combo.setCurrentIndex(dock.start_combo.findData("landmarks"))
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "completed" and "landmark" in record.start_label
    assert np.allclose(record.initial_transform.matrix, known.matrix, atol=1e-9)
    assert np.allclose(record.initial_transform.translation, known.translation, atol=1e-9)


def test_choosing_a_landmark_method_previews_its_fit_live_while_points_are_dragged(qtbot, window):
    landmarks = window.landmarks
    assert not landmarks.live
    fixed_points = np.array([[60.0, 80.0], [190.0, 70.0], [128.0, 200.0], [100.0, 128.0]])
    for point in fixed_points:
        landmarks.model.add_pair(fixed=point, moving=point + [5.0, -2.0])
    dock = window.run_dock
    dock.select_method("landmark-tps")
    assert landmarks.live and landmarks.fit_kind == "tps"
    shown = window.grid.scene.transform  # the fit is shown at once
    assert shown is not None and np.allclose(
        shown.transform_points(fixed_points), fixed_points + [5.0, -2.0], atol=1e-6
    )
    previews = []
    window.grid.transformChanged.connect(previews.append)
    landmarks.dragging = True
    landmarks.model.set_point(0, "moving", fixed_points[0] + [9.0, 0.0], merge_key="test-drag")
    landmarks.drag_moved()
    landmarks.drag_finished()
    assert previews == [True, False]  # a live preview while dragging, the exact fit on release
    assert np.allclose(
        window.grid.scene.transform.transform_points(fixed_points[:1]), fixed_points[:1] + [9.0, 0.0], atol=1e-6
    )
    dock.select_method("rigid")  # another method: the live fit the dock turned on is off again
    assert not landmarks.live


def test_the_torch_preset_shows_the_level_voxel_sizes_it_uses(qtbot, window):
    """The preset sets its levels in mm: the form shows those, and the shrink factors they replace are folded away
    (a visible "Shrink factors: 4, 2" that the run ignored was seen in the real window)."""
    dock = window.run_dock
    dock.select_preset("deformable-torch")
    editors = dock.form.editors
    assert editors["level_spacing"].text().replace(" ", "") in ("8,4", "8.0,4.0")
    assert editors["level_spacing"].isVisible() and not editors["shrink_factors"].isVisible()
    dock.form.expert_toggle.setChecked(True)
    assert editors["shrink_factors"].isVisible()
