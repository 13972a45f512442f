"""Export of a session's run in the CLI's OUT layout, the report, and ``regviewer session``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from regviewer.app.export import export_run
from regviewer.app.session_document import LandmarkPair, RunEntry, Session, SessionError
from regviewer.app.session_images import image_ref
from regviewer.app.session_io import save_session
from regviewer.cli.main import main
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.transforms import AffineTransform
from regviewer.paths import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "brain3d"
CLI_LAYOUT = {
    "warped.nii.gz",
    "transform.h5",
    "displacement.nii.gz",
    "jacobian.nii.gz",
    "warped_labels.nii.gz",
    "metrics.json",
}


@pytest.fixture(scope="module")
def sample_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Session]:
    folder = tmp_path_factory.mktemp("export")
    data = folder / "data"
    data.mkdir()
    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz", "moving_labels.nii.gz"):
        shutil.copy(SAMPLE / name, data / name)
    truth = read_transform(SAMPLE / "fixed_to_moving.tfm")  # affine + B-spline
    session = Session(
        images={
            role: image_ref(data / f"{role}.nii.gz") for role in ("fixed", "moving", "fixed_labels", "moving_labels")
        },
        landmarks=[
            LandmarkPair("a", (0.0, 0.0, 0.0), tuple(truth.transform_points(np.zeros(3))), True),
            LandmarkPair("b", (10.0, -20.0, 5.0), tuple(truth.transform_points(np.array([10.0, -20.0, 5.0]))), True),
        ],
        runs=[
            RunEntry(
                1,
                "affine -> bspline",
                "completed",
                {
                    "method": "affine,bspline",
                    "stages": [
                        {"method": "affine", "parameters": {"iterations": [100]}},
                        {"method": "bspline", "parameters": {}},
                    ],
                },
                message="converged",
                runtime_s=3.5,
                warnings=["stage 2 stopped early"],
                transform=truth,
            ),
            RunEntry(
                2,
                "rigid",
                "completed",
                {"method": "rigid"},
                transform=AffineTransform(np.eye(3), np.array([1.0, 0.0, 0.0])),
            ),
            RunEntry(3, "demons", "failed", {"method": "demons"}, message="out of memory"),
        ],
        current_transform=truth,
        notes="sample pair",
    )
    path = save_session(session, folder / "work.regviewer.zip")
    return path, session


def test_export_writes_the_cli_layout_inverse_and_report(tmp_path: Path, sample_session) -> None:
    _, session = sample_session
    result = export_run(session, tmp_path / "out", 1, view_png=b"\x89PNG\r\n\x1a\n picture")
    names = {item.name for item in (tmp_path / "out").iterdir()}
    assert names == CLI_LAYOUT | {"transform_inverse_moving_to_fixed.h5", "report.html"}
    assert not [item for item in tmp_path.iterdir() if ".tmp-" in item.name]
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert document["files"]["transform"] == "transform.h5"
    assert document["files"]["inverse_transform"] == "transform_inverse_moving_to_fixed.h5"
    assert "fixed-space points (LPS mm) to moving-space points" in document["direction"]
    assert "moving-space points (LPS mm) to fixed-space points" in document["inverse_direction"]
    assert "stage 2 stopped early" in document["warnings"]
    assert (
        document["after"]["dice_mean"] > document["before"]["dice_mean"] + 0.1
    )  # the true transform aligns the labels
    assert document["after"]["tre_mean_mm"] < 1e-3 < document["before"]["tre_mean_mm"]
    truth = session.runs[0].transform
    forward = read_transform(tmp_path / "out" / "transform.h5")
    inverse = read_transform(tmp_path / "out" / "transform_inverse_moving_to_fixed.h5")
    points = np.array([[0.0, 0.0, 0.0], [20.0, -30.0, 10.0], [-25.0, 15.0, -5.0]])
    np.testing.assert_allclose(forward.transform_points(points), truth.transform_points(points), atol=1e-6)
    np.testing.assert_allclose(inverse.transform_points(truth.transform_points(points)), points, atol=0.3)
    warped = read_image(tmp_path / "out" / "warped.nii.gz")
    assert warped.shape == read_image(SAMPLE / "fixed.nii.gz").shape
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Run #1: affine -&gt; bspline" in report and "data:image/png;base64," in report
    assert "Dice (mean)" in report and "Warning: stage 2 stopped early" in report and "iterations = [100]" in report
    assert result.files["report"] == "report.html"


def test_linear_run_writes_tfm_both_ways(tmp_path: Path, sample_session) -> None:
    _, session = sample_session
    export_run(session, tmp_path / "out", 2)
    assert (tmp_path / "out" / "transform.tfm").is_file()
    inverse = read_transform(tmp_path / "out" / "transform_inverse_moving_to_fixed.tfm")
    np.testing.assert_allclose(inverse.transform_points(np.array([1.0, 0.0, 0.0])), [0.0, 0.0, 0.0], atol=1e-9)


def test_refusals(tmp_path: Path, sample_session) -> None:
    _, session = sample_session
    with pytest.raises(SessionError, match="run #3 failed: out of memory; it has no result"):
        export_run(session, tmp_path / "out", 3)
    with pytest.raises(SessionError, match="no run #9"):
        export_run(session, tmp_path / "out", 9)
    data = Path(session.images["fixed"].path).parent
    chained = Session(
        images={
            "fixed": session.images["fixed"],
            "moving": image_ref(shutil.copy(data / "moving.nii.gz", data / "warped.nii.gz")),
        },
        runs=[session.runs[1]],
    )
    before = (data / "warped.nii.gz").read_bytes()
    with pytest.raises(SessionError, match="would write over the input warped.nii.gz"):
        export_run(chained, data, 2)
    assert (data / "warped.nii.gz").read_bytes() == before
    with pytest.raises(SessionError, match="is an input of the session"):
        export_run(session, data / "fixed.nii.gz", 2)


def test_cli_session_export_and_show(tmp_path: Path, sample_session, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = sample_session
    assert main(["session", "export", str(path), "-o", str(tmp_path / "cli")]) == 0  # default: the current run (#1)
    assert CLI_LAYOUT <= {item.name for item in (tmp_path / "cli").iterdir()}
    assert main(["session", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "*#1" in out and "#3   demons" in out and "landmarks: 2 pairs (2 active)" in out
    assert main(["session", "export", str(path), "--run", "3", "-o", str(tmp_path / "x")]) == 2
    assert main(["session", "export", str(tmp_path / "none.regviewer"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == "regviewer: error: run #3 failed: out of memory; it has no result to export"
    assert err[-1].startswith("regviewer: error: ") and "no such session" in err[-1]
    assert not (tmp_path / "x").exists()


def test_cli_opens_a_session_in_the_window(tmp_path: Path, sample_session, monkeypatch: pytest.MonkeyPatch) -> None:
    import regviewer.gui.app as gui_app

    path, _ = sample_session
    calls = []
    monkeypatch.setattr(gui_app, "run_gui", lambda **kwargs: calls.append(kwargs) or 0)
    assert main([str(path)]) == 0
    assert calls[0]["session"] == str(path) and calls[0]["layout"] is None
    assert main([str(SAMPLE / "fixed.nii.gz"), str(SAMPLE / "moving.nii.gz")]) == 0
    assert "session" not in calls[-1] and calls[-1]["fixed"] == str(SAMPLE / "fixed.nii.gz")
