"""The Qt-free application model (regviewer.app): state that belongs to an image goes with it,
windows per image, events, snapshot / restore round trips through JSON, one Request builder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from regviewer.app import (
    Landmarks,
    OverlaySettings,
    OverlayState,
    RunHistory,
    RunPlan,
    RunRecord,
    RunSession,
    ViewerState,
    Workspace,
)
from regviewer.app.run_session import START_CURRENT, START_LANDMARKS, figures_in_steps
from regviewer.core.compose import WindowLevel
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.progress import CancelToken
from regviewer.core.transforms import AffineTransform
from regviewer.registration.base import Result
from regviewer.registration.pipeline import Stage


def blob(shape=(24, 28), value=100.0, name="img", is_label=False, shift=0) -> Image:
    array = np.zeros(shape, np.float32 if not is_label else np.int16)
    array[6 + shift : 18 + shift, 8:20] = value
    return Image.from_array(array, name=name, is_label=is_label)


def roundtrip(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_replacing_the_moving_image_drops_its_labels_and_mask():
    workspace = Workspace()
    seen = []
    workspace.changed.connect(seen.append)
    fixed, moving = blob(name="f"), blob(name="m")
    labels = blob(name="ml", value=3, is_label=True)
    workspace.set_content(
        fixed=fixed,
        moving=moving,
        moving_labels=labels,
        moving_mask=labels,
        fixed_labels=blob(value=1, is_label=True),
        sources={"moving_labels": "/data/ml.nii"},
    )
    assert workspace.moving_labels is labels and workspace.source("moving_labels") == "/data/ml.nii"
    changed = workspace.set_content(moving=blob(name="m2", value=8000.0))
    assert workspace.moving_labels is None and workspace.moving_mask is None
    assert workspace.source("moving_labels") is None
    assert workspace.fixed_labels is not None  # the fixed side is untouched
    assert set(changed) == {"moving", "moving_labels", "moving_mask"} and seen[-1] == changed
    # new labels given with the new image are kept
    new_labels = blob(value=5, is_label=True)
    workspace.set_content(moving=blob(name="m3"), moving_labels=new_labels)
    assert workspace.moving_labels is new_labels


def test_labels_and_transform_of_another_dimension_are_dropped():
    workspace = Workspace()
    workspace.set_content(
        fixed=blob(), moving=blob(), fixed_labels=blob(is_label=True), transform=AffineTransform.identity(2)
    )
    workspace.set_content(fixed=blob((4, 24, 28)), moving=blob((4, 24, 28)))
    assert workspace.fixed_labels is None and workspace.transform is None


def test_workspace_snapshot_holds_references_and_restores():
    workspace = Workspace()
    fixed, moving = blob(name="f"), blob(name="m")
    workspace.set_content(fixed=fixed, moving=moving, sources={"fixed": "/a/f.nii", "moving": "/a/m.nii"})
    data = roundtrip(workspace.snapshot())
    assert data["roles"]["fixed"] == {"source": "/a/f.nii", "name": "f", "shape": [24, 28], "is_label": False}
    assert "array" not in json.dumps(data)
    other = Workspace()
    transform = AffineTransform.identity(2)
    other.restore(data, images={"fixed": fixed, "moving": moving}, transform=transform)
    assert other.fixed is fixed and other.source("moving") == "/a/m.nii" and other.transform is transform


def test_viewer_state_windows_are_per_image():
    state = ViewerState()
    changes = []
    state.window_changed.connect(changes.append)
    state.image_replaced("fixed", blob(value=200.0))
    state.image_replaced("moving", blob(value=8000.0))
    assert state.windows["moving"].high > 4000 and state.windows["fixed"].high < 400
    state.set_window("moving", WindowLevel(10, 5), "custom")
    state.image_replaced("moving", blob(value=255.0))
    assert state.windows["moving"].high < 400 and state.window_presets["moving"] == "Auto"
    assert changes == ["fixed", "moving", "moving", "moving"]


def test_viewer_state_guard_drops_echoes_and_snapshot_roundtrips():
    state = ViewerState()
    received = []

    def echo(point):
        received.append(point)
        state.set_cursor(point + 1)  # a view applying the change must not echo it back

    state.cursor_changed.connect(echo)
    state.set_cursor([1.0, 2.0, 3.0])
    assert len(received) == 1 and np.allclose(state.cursor_mm, [1, 2, 3])
    state.set_options(tile_mm=7.5)
    state.set_range("axial", (0, 10, 0, 20))
    state.set_layout("1x3")
    state.set_view(3, mode="difference", plane="coronal")
    data = roundtrip(state.snapshot())
    other = ViewerState()
    other.restore(data)
    assert other.snapshot() == state.snapshot()
    assert other.options.tile_mm == 7.5 and other.modes[3] == "difference" and other.layout == "1x3"
    with pytest.raises(ValueError):
        state.set_layout("3x3")


def test_landmarks_snapshot_roundtrip_and_events():
    landmarks = Landmarks()
    pairs = landmarks.for_ndim(3)
    count = []
    pairs.changed.connect(lambda: count.append(1))
    pairs.add_pair((1, 2, 3), (4, 5, 6), name="A")
    pairs.add_pair((7, 8, 9), None, name="B", active=False)
    landmarks.set_fit(kind="affine", live=True)
    assert count == [1, 1]
    data = roundtrip(landmarks.snapshot())
    other = Landmarks()
    other.restore(data)
    restored = other.for_ndim(3)
    assert [p.name for p in restored.pairs] == ["A", "B"]
    assert restored[0].moving == (4.0, 5.0, 6.0) and restored[1].moving is None and not restored[1].active
    assert other.fit_kind == "affine" and other.live
    assert restored.undo() and len(restored) == 0  # a restore is one undo step


def test_overlay_settings_snapshot_roundtrip():
    state = OverlayState()
    seen = []
    state.changed.connect(lambda: seen.append(1))
    state.set_options("grid", enabled=True, views=[0, 3], opacity=0.3)
    state.set_params(grid_spacing_mm=4.0, agreement_label=7)
    state.set_colour_table_path("/t/FreeSurferColorLUT.txt")
    data = roundtrip(state.snapshot())
    other = OverlayState()
    other.restore(data)
    assert other.settings == state.settings
    assert other.settings.shown_on("grid", 3) and other.colour_table_path == "/t/FreeSurferColorLUT.txt"
    assert len(seen) == 3
    assert OverlaySettings.from_dict({"options": {"nonsense": {}}, "bogus": 1}) == OverlaySettings()


def _session():
    workspace = Workspace()
    fixed, moving = blob(name="f"), blob(name="m", shift=2)
    labels_f, labels_m = blob(value=1, is_label=True), blob(value=1, is_label=True, shift=2)
    workspace.set_content(
        fixed=fixed,
        moving=moving,
        fixed_labels=labels_f,
        moving_labels=labels_m,
        sources={"fixed": "/d/f.png", "moving": "/d/m.png"},
    )
    return workspace, RunSession(workspace)


def test_run_session_builds_request_and_evaluation_from_the_workspace():
    workspace, session = _session()
    plan = RunPlan((Stage("rigid", {}),), title="T", mask_roles=("fixed",), use_labels=True)
    prepared = session.prepare(plan)
    request, evaluation = prepared.request, prepared.evaluation
    assert request.fixed is workspace.fixed and request.fixed_mask is workspace.fixed_labels
    assert request.moving_mask is None and request.moving_labels is workspace.moving_labels
    assert evaluation.fixed_mask is workspace.fixed_labels and evaluation.moving_labels is workspace.moving_labels
    assert prepared.record.sources["fixed"] == "/d/f.png" and prepared.record.images == (
        workspace.fixed,
        workspace.moving,
    )
    no_labels = session.prepare(RunPlan((Stage("rigid", {}),)))
    assert no_labels.request.fixed_labels is None and no_labels.evaluation.fixed_labels is None


def test_run_session_start_choices():
    workspace, session = _session()
    shown = AffineTransform(np.eye(2), [1.0, 0.0])
    workspace.set_transform(shown)
    stages = (Stage("rigid", {}),)
    assert session.prepare(RunPlan(stages, start=START_CURRENT)).request.initial_transform is shown
    with pytest.raises(RegViewerError, match="landmark"):
        session.prepare(RunPlan(stages, start=START_LANDMARKS))
    with pytest.raises(RegViewerError, match="run #4"):
        session.prepare(RunPlan(stages, start=4))


def test_run_session_runs_records_and_scores_in_two_steps():
    workspace, session = _session()
    events = []
    session.history.updated.connect(events.append)
    plan = RunPlan((Stage("rigid", {"iterations": 30}),), title="T", use_labels=True)
    prepared = session.begin(plan)
    assert session.history.get(prepared.record.run_id) is prepared.record
    result = session.run(prepared, lambda event: None, CancelToken())
    assert result.status == "completed" and prepared.record.result is result
    steps = list(figures_in_steps(result.transform, prepared.evaluation))
    assert len(steps) == 2 and steps[0]["partial"] and "hd95_mean_mm" not in steps[0]["after"]
    assert "ncc" not in steps[0]["after"] and "ncc" in steps[1]["after"]
    assert "dice_mean" in steps[0]["after"] and "hd95_mean_mm" in steps[1]["after"]
    assert steps[0]["before"]["dice_mean"] == pytest.approx(steps[1]["before"]["dice_mean"])
    assert steps[0]["after"]["dice_mean"] == pytest.approx(steps[1]["after"]["dice_mean"])
    session.history.set_figures(prepared.record.run_id, steps[1])
    session.history.set_figures(prepared.record.run_id, steps[0])  # a late partial never replaces complete figures
    assert "hd95_mean_mm" in prepared.record.figures["after"] and not prepared.record.figures_pending
    assert events and events[-1] is prepared.record


def test_run_session_maps_engine_failures():
    _workspace, session = _session()
    prepared = session.begin(RunPlan((Stage("rigid", {}),)))
    prepared = type(prepared)(prepared.record, (Stage("no-such-method", {}),), prepared.request, prepared.evaluation)
    result = session.run(prepared, lambda event: None, CancelToken())
    assert result.status == "failed" and "no-such-method" in result.message


def test_run_record_warnings_and_history_snapshot():
    history = RunHistory()
    record = RunRecord(
        history.new_id(),
        "B-spline",
        None,
        (Stage("bspline", {"grid_mm": (10.0, 5.0)}),),
        "start",
        None,
        "No mask",
        {"fixed": "/f.nii"},
    )
    history.add(record)
    transform = AffineTransform(np.eye(2) * 1.1, [0.0, 0.0])
    history.set_result(
        record.run_id,
        Result(
            "bspline",
            transform,
            "completed",
            runtime_s=2.0,
            log=("warning: the b-spline stage diverged (x); kept its starting transform",),
        ),
    )
    history.set_figures(
        record.run_id,
        {"before": {"ncc": 0.9, "dice_mean": 0.8}, "after": {"ncc": 0.5, "dice_mean": 0.7, "folded_pct": 40.0}},
    )
    warnings = record.warnings
    assert any("diverged" in w for w in warnings) and any("folds in 40%" in w for w in warnings)
    assert any("worse" in w for w in warnings)
    assert "4 warnings" in record.summary() and "WARNING: " in record.details()
    data = roundtrip(history.snapshot())
    other = RunHistory()
    other.restore(data, transforms={"run-001": transform})
    restored = other.get(1)
    assert restored.result.transform is transform and restored.status == "completed"
    assert restored.stages[0].parameters["grid_mm"] == (10.0, 5.0) and restored.warnings == warnings
    assert other.new_id() == 2
    missing = RunHistory()
    missing.restore(data)  # transforms not found: said, never silently an identity "completed"
    assert missing.get(1).status == "failed" and "not found" in missing.get(1).result.message
