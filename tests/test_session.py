"""Session bundles: round trip (folder and zip), missing / changed images, versions, atomicity."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from regviewer.app import session_io
from regviewer.app.session_document import FORMAT_VERSION, LandmarkPair, RunEntry, Session, SessionError
from regviewer.app.session_images import image_ref
from regviewer.app.session_io import open_session, save_session
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Geometry
from regviewer.core.transforms import AffineTransform, CompositeTransform, DisplacementFieldTransform
from regviewer.paths import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "brain3d"


def _affine(shift: float) -> AffineTransform:
    return AffineTransform(np.eye(3), np.array([shift, -1.0, 0.5]))


def _field_transform() -> CompositeTransform:
    geometry = Geometry((6, 7, 8), (2.0, 2.0, 2.0), (-5.0, -6.0, -7.0))
    displacement = np.random.default_rng(1).normal(0, 0.5, geometry.shape + (3,))
    return CompositeTransform([DisplacementFieldTransform(displacement, geometry), _affine(2.0)])


def make_session(folder: Path) -> Session:
    """A session over copies of the sample images, with a linear and a deformable run."""
    data = folder / "data"
    data.mkdir(exist_ok=True)
    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz"):
        shutil.copy(SAMPLE / name, data / name)
    field_run = _field_transform()
    return Session(
        images={
            "fixed": image_ref(data / "fixed.nii.gz"),
            "moving": image_ref(data / "moving.nii.gz"),
            "fixed_labels": image_ref(data / "fixed_labels.nii.gz", channel=None),
        },
        landmarks=[
            LandmarkPair("ventricle", (1.0, 2.0, 3.0), (1.5, 2.5, 3.5), True),
            LandmarkPair("unpaired", (4.0, 5.0, 6.0), None, False),
        ],
        runs=[
            RunEntry(
                1,
                "affine",
                "completed",
                {"method": "affine", "stages": [{"method": "affine", "parameters": {"iterations": (50, 20)}}]},
                message="converged",
                figures={"before": {"ncc": 0.5}, "after": {"ncc": np.float32(0.75)}},
                runtime_s=1.25,
                transform=_affine(1.0),
            ),
            RunEntry(
                2,
                "affine -> bspline",
                "completed",
                {"method": "affine,bspline"},
                warnings=["3.1 % of voxels fold"],
                figures={"before": {"ncc": 0.5}, "after": {"ncc": float("nan")}},
                transform=field_run,
            ),
            RunEntry(3, "demons", "failed", {"method": "demons"}, message="out of memory"),
        ],
        current_transform=field_run,
        extra_transforms={"run-002-start": _affine(0.5)},
        state={
            "viewer": {"cursor_mm": [1.0, 2.0, 3.0], "window": {"fixed": [0, 100]}, "layout": "2x2"},
            "overlays": {"grid": True, "opacity": 0.4},
        },
        notes="checked by Dr. A\nventricles fine",
    )


PROBE_POINTS = np.array([[0.0, 0.0, 0.0], [3.0, -2.0, 4.0], [-4.0, -3.0, 2.0]])


def _same_transform(a, b, points=PROBE_POINTS) -> None:
    np.testing.assert_allclose(a.transform_points(points), b.transform_points(points), atol=1e-6)


@pytest.mark.parametrize("name", ["work.regviewer", "work.regviewer.zip"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / name)
    opened = open_session(path)
    assert opened.problems == []
    loaded = opened.session
    assert {role: ref.path for role, ref in loaded.images.items()} == {
        role: ref.path for role, ref in session.images.items()
    }
    assert loaded.landmarks == session.landmarks
    assert [(r.run_id, r.title, r.status, r.message, r.warnings) for r in loaded.runs] == [
        (r.run_id, r.title, r.status, r.message, r.warnings) for r in session.runs
    ]
    assert loaded.runs[0].parameters["stages"][0]["parameters"]["iterations"] == [50, 20]
    assert loaded.runs[0].figures["after"]["ncc"] == pytest.approx(0.75)
    assert loaded.runs[1].figures["after"]["ncc"] is None  # NaN is saved as null, not as invalid JSON
    _same_transform(loaded.runs[0].load_transform(), session.runs[0].transform)
    _same_transform(loaded.runs[1].load_transform(), session.runs[1].transform)
    assert loaded.runs[2].transform is None
    assert loaded.current_run == 2
    _same_transform(loaded.current_transform.load(), session.current_transform)
    _same_transform(loaded.extra_transforms["run-002-start"].load(), _affine(0.5))
    assert loaded.state == session.state
    assert loaded.notes == session.notes


def test_paths_are_relative_and_follow_a_moved_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    save_session(make_session(project), project / "work.regviewer")
    document = json.loads((project / "work.regviewer" / "session.json").read_text())
    assert document["images"]["fixed"]["path"] == "data/fixed.nii.gz"
    assert len(document["images"]["fixed"]["sha256"]) == 64
    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)
    opened = open_session(moved / "work.regviewer")
    assert opened.problems == []
    assert opened.session.images["moving"].path == moved / "data" / "moving.nii.gz"


def test_missing_and_changed_images_are_reported_and_the_rest_opens(tmp_path: Path) -> None:
    path = save_session(make_session(tmp_path), tmp_path / "work.regviewer")
    (tmp_path / "data" / "moving.nii.gz").unlink()
    with open(tmp_path / "data" / "fixed_labels.nii.gz", "ab") as stream:
        stream.write(b"\0")
    opened = open_session(path)
    problems = {problem.role: problem for problem in opened.problems}
    assert set(problems) == {"moving", "fixed_labels"}
    assert problems["moving"].kind == "missing" and "moving image not found at" in problems["moving"].message
    assert (
        problems["fixed_labels"].kind == "changed"
        and "changed since the session was saved" in problems["fixed_labels"].message
    )
    assert len(opened.session.runs) == 3 and opened.session.landmarks[0].name == "ventricle"
    _same_transform(opened.session.runs[0].load_transform(), _affine(1.0))


def test_locate_a_moved_image(tmp_path: Path) -> None:
    from regviewer.app.session_images import locate

    path = save_session(make_session(tmp_path), tmp_path / "work.regviewer")
    shutil.move(tmp_path / "data" / "moving.nii.gz", tmp_path / "moved.nii.gz")
    opened = open_session(path)
    ref, warning = locate(opened.session.images["moving"], tmp_path / "moved.nii.gz")
    assert warning is None and ref.path == tmp_path / "moved.nii.gz"
    ref, warning = locate(opened.session.images["moving"], tmp_path / "data" / "fixed.nii.gz")
    assert "not the file the session was saved with" in warning


def test_older_version_migrates(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "old.regviewer")
    document = json.loads((path / "session.json").read_text())
    document["version"] = 1  # the draft format: bare image paths, "transform_file", no notes
    document["images"] = {role: entry["absolute"] for role, entry in document["images"].items()}
    for run in document["runs"]:
        run["transform_file"] = run.pop("transform")
        run.pop("warnings")
    document.pop("notes")
    (path / "session.json").write_text(json.dumps(document))
    opened = open_session(path)
    assert opened.problems == []
    assert opened.session.notes == "" and opened.session.runs[1].warnings == []
    _same_transform(opened.session.runs[0].load_transform(), session.runs[0].transform)


def test_newer_version_and_broken_files_say_why(tmp_path: Path) -> None:
    path = save_session(make_session(tmp_path), tmp_path / "new.regviewer")
    document = json.loads((path / "session.json").read_text())
    document["version"] = FORMAT_VERSION + 1
    (path / "session.json").write_text(json.dumps(document))
    with pytest.raises(
        SessionError, match=rf"saved by a newer RegViewer .*session format {FORMAT_VERSION + 1}.*update RegViewer"
    ):
        open_session(path)
    (path / "session.json").write_text('{"format": "regviewer-session", "version": 2, "runs": [')
    with pytest.raises(SessionError, match=r"the session document is damaged \(session.json: Expecting value"):
        open_session(path)
    (path / "session.json").write_text('{"format": "something-else"}')
    with pytest.raises(SessionError, match="not a RegViewer session"):
        open_session(path)
    (tmp_path / "notes.zip").write_bytes(b"PK not really a zip")
    with pytest.raises(SessionError, match="not a RegViewer session"):
        open_session(tmp_path / "notes.zip")
    with pytest.raises(SessionError, match="no such session"):
        open_session(tmp_path / "absent.regviewer")
    document["version"] = FORMAT_VERSION
    document["runs"] = [{"title": "no id or status"}]
    (path / "session.json").write_text(json.dumps(document))
    with pytest.raises(SessionError, match="damaged"):
        open_session(path)


def test_a_missing_transform_file_fails_only_that_run(tmp_path: Path) -> None:
    path = save_session(make_session(tmp_path), tmp_path / "work.regviewer")
    opened = open_session(path)
    opened.session.runs[0].transform.file.unlink()
    with pytest.raises(SessionError, match="transform file is missing"):
        opened.session.runs[0].load_transform()
    assert opened.session.runs[1].load_transform() is not None


def test_refuses_a_folder_that_is_not_a_session(tmp_path: Path) -> None:
    target = tmp_path / "mydata"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    session = make_session(tmp_path)
    with pytest.raises(SessionError, match="exists and is not a RegViewer session"):
        save_session(session, target)
    assert (target / "precious.txt").read_text() == "keep me"
    with pytest.raises(SessionError, match="is one of the session's images"):
        save_session(session, tmp_path / "data" / "fixed.nii.gz")


def test_saving_again_writes_only_the_document(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "work.regviewer")
    files = {item.name: item.stat().st_mtime_ns for item in (path / "transforms").iterdir()}
    session.landmarks.append(LandmarkPair("new", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    session.runs.pop(0)
    save_session(session, path)
    after = {item.name: item.stat().st_mtime_ns for item in (path / "transforms").iterdir()}
    assert len(after) == 2 and set(after) < set(files)  # run 1's file removed; run 2's and the start kept as they were
    assert all(after[name] == files[name] for name in after)
    reopened = open_session(path).session
    assert reopened.landmarks[-1].name == "new"
    # an opened session saved into the same bundle keeps its files; into another bundle it copies them
    save_session(reopened, path)
    assert {item.name for item in (path / "transforms").iterdir()} == set(after)
    copy = save_session(reopened, tmp_path / "copy.regviewer.zip")
    _same_transform(open_session(copy).session.runs[0].load_transform(), session.runs[0].transform)


def test_zip_holds_the_document_and_transforms(tmp_path: Path) -> None:
    path = save_session(make_session(tmp_path), tmp_path / "share.regviewer.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "session.json" in names
    transforms = sorted(name.rsplit("-", 1)[0] for name in names if name.startswith("transforms/"))
    assert transforms == ["transforms/run-002-start", "transforms/run-1", "transforms/run-2"]


def _fail_on_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the write of session.json fail half-way (a disk error after some bytes)."""
    real = session_io.write_text_atomic

    def failing(path, text, encoding="utf-8"):
        with session_io.atomic_path(path) as temporary:
            temporary.write_text(text[: len(text) // 2])
            raise OSError(28, "No space left on device")
        return real(path, text, encoding)

    monkeypatch.setattr(session_io, "write_text_atomic", failing)


def test_a_failed_save_leaves_the_previous_folder_bundle_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "work.regviewer")
    before = (path / "session.json").read_bytes()
    session.notes = "changed"
    session.runs.append(RunEntry(4, "rigid", "completed", transform=_affine(9.0)))
    _fail_on_document(monkeypatch)
    with pytest.raises(Exception, match="disk is full"):
        save_session(session, path)
    assert (path / "session.json").read_bytes() == before
    opened = open_session(path)
    assert [run.run_id for run in opened.session.runs] == [1, 2, 3]
    for run in opened.session.runs[:2]:
        assert run.load_transform() is not None
    assert not [item for item in path.rglob("*") if ".tmp-" in item.name]


def test_a_failed_first_save_leaves_nothing_under_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session(tmp_path)
    _fail_on_document(monkeypatch)
    with pytest.raises(Exception, match="disk is full"):
        save_session(session, tmp_path / "new.regviewer")
    assert not (tmp_path / "new.regviewer").exists()
    assert not [item for item in tmp_path.iterdir() if ".tmp-" in item.name]


def test_a_failed_zip_save_leaves_the_previous_zip_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "work.regviewer.zip")
    before = path.read_bytes()
    session.notes = "changed"

    def failing(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(session_io, "to_document", failing)
    with pytest.raises(RegViewerError, match="cannot write .*Input/output"):
        save_session(session, path)
    assert path.read_bytes() == before
    assert not [item for item in tmp_path.iterdir() if ".tmp-" in item.name]
