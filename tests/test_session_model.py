"""The application model through a session file and back (no Qt)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from regviewer.app import Landmarks, OverlayState, RunHistory, RunRecord, ViewerState, Workspace
from regviewer.app.session_io import open_session, save_session
from regviewer.app.session_model import AppModel, read_session_images, restore_model, session_from_model
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.landmarks import LandmarkPair
from regviewer.core.transforms import AffineTransform
from regviewer.paths import SAMPLE_DATA
from regviewer.registration.base import Result
from regviewer.registration.pipeline import Stage

SAMPLE = SAMPLE_DATA / "brain3d"


def _model() -> AppModel:
    return AppModel(Workspace(), ViewerState(), Landmarks(), OverlayState(), RunHistory())


@pytest.fixture
def model(tmp_path: Path) -> AppModel:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz", "moving_labels.nii.gz"):
        shutil.copy(SAMPLE / name, data / name)
    model = _model()
    paths = {role: data / f"{role}.nii.gz" for role in ("fixed", "moving", "fixed_labels", "moving_labels")}
    images = {role: read_image(path, is_label=role.endswith("labels")) for role, path in paths.items()}
    model.workspace.set_content(**images, sources={role: str(path) for role, path in paths.items()})
    landmarks = model.landmarks.for_ndim(3)
    landmarks.replace_all(
        [
            LandmarkPair("ventricle", True, (1.0, 2.0, 3.0), (1.5, 2.5, 3.5)),
            LandmarkPair("off", False, (4.0, 5.0, 6.0), None),
        ],
        "test",
    )
    truth = read_transform(SAMPLE / "fixed_to_moving.tfm")
    start = AffineTransform(np.eye(3), np.array([0.5, 0.0, 0.0]))
    for run_id, transform, status in ((1, start, "completed"), (2, truth, "completed"), (3, None, "failed")):
        record = RunRecord(
            run_id,
            f"run {run_id}",
            None,
            (Stage("affine", {"iterations": (50, 20)}),),
            "identity",
            start if run_id == 2 else None,
            "no mask",
            {"fixed": "f"},
            images=(images["fixed"], images["moving"]),
        )
        model.history.add(record)
        result = Result(
            "affine",
            transform if transform is not None else AffineTransform.identity(3),
            status,
            runtime_s=1.5,
            message="out of memory" if status == "failed" else "converged",
        )
        model.history.set_result(run_id, result)
        if status == "completed":
            model.history.set_figures(run_id, {"before": {"ncc": 0.5}, "after": {"ncc": 0.8}})
    model.workspace.set_transform(truth)
    model.viewer.restore({"cursor_mm": [3.0, -4.0, 5.0], "layout": "1x3"})
    model.notes = "looks right"
    return model


@pytest.mark.parametrize("name", ["study.regviewer", "study.regviewer.zip"])
def test_model_round_trip(model: AppModel, tmp_path: Path, name: str) -> None:
    path = save_session(session_from_model(model), tmp_path / name)
    opened = open_session(path)
    assert opened.problems == []
    images, messages = read_session_images(opened)
    fresh = _model()
    assert restore_model(fresh, opened, images) == [] and messages == []
    for role in ("fixed", "moving", "fixed_labels", "moving_labels"):
        np.testing.assert_array_equal(fresh.workspace.image(role).array, model.workspace.image(role).array)
        assert Path(fresh.workspace.source(role)) == Path(model.workspace.source(role))
    points = np.array([[0.0, 0.0, 0.0], [20.0, -10.0, 5.0]])
    np.testing.assert_allclose(
        fresh.workspace.transform.transform_points(points), model.workspace.transform.transform_points(points)
    )
    assert fresh.landmarks.snapshot() == model.landmarks.snapshot()
    assert fresh.viewer.snapshot()["cursor_mm"] == [3.0, -4.0, 5.0] and fresh.viewer.layout == "1x3"
    assert [(r.run_id, r.status, r.result.message) for r in fresh.history] == [
        (r.run_id, r.status, r.result.message) for r in model.history
    ]
    assert fresh.history.get(2).initial_transform is not None and fresh.history.get(1).figures["after"]["ncc"] == 0.8
    np.testing.assert_allclose(
        fresh.history.get(2).result.transform.transform_points(points),
        model.history.get(2).result.transform.transform_points(points),
    )
    assert fresh.history.next_id == 4 and fresh.notes == "looks right"


def test_missing_image_leaves_its_role_empty_and_the_rest_opens(model: AppModel, tmp_path: Path) -> None:
    path = save_session(session_from_model(model), tmp_path / "study.regviewer")
    (tmp_path / "data" / "moving_labels.nii.gz").unlink()
    opened = open_session(path)
    assert [problem.role for problem in opened.problems] == ["moving_labels"]
    images, _ = read_session_images(opened)
    fresh = _model()
    restore_model(fresh, opened, images)
    assert fresh.workspace.moving_labels is None and fresh.workspace.fixed_labels is not None
    assert len(fresh.history) == 3 and len(fresh.landmarks.for_ndim(3)) == 2


def test_snapshot_is_cheap_and_writes_nothing(model: AppModel, tmp_path: Path) -> None:
    session = session_from_model(model)
    assert all(ref.sha256 is None for ref in session.images.values())  # hashing is the writer's job
    assert session.current_run == 2 and session.runs[2].status == "failed"
