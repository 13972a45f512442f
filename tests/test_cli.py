"""The ``regviewer`` command: outputs with stable names, metrics.json schema, one-line errors (exit 2)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import about_centre, moving_for, rotation

from regviewer.cli import main
from regviewer.core.image import Image
from regviewer.core.io import read_image, write_image
from regviewer.core.io.landmarks_io import write_points_csv
from regviewer.core.io.transforms_io import read_transform


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pair3d(tmp_path_factory):
    """A small synthetic 3D pair with labels and landmarks (fast enough for CLI tests)."""
    folder = tmp_path_factory.mktemp("pair3d")
    z, y, x = np.mgrid[:24, :28, :32]
    labels = np.zeros((24, 28, 32), np.uint8)
    labels[(x - 15) ** 2 / 81 + (y - 13) ** 2 / 64 + (z - 11) ** 2 / 49 < 1] = 1
    labels[(x - 15) ** 2 / 16 + (y - 13) ** 2 / 16 + (z - 11) ** 2 / 9 < 1] = 2
    fixed = Image.from_array((labels * 40.0 + 10).astype(np.float32), spacing=(1.5, 1.5, 2.0), origin=(-20, -18, 5))
    truth = about_centre(fixed, rotation((0.0, 0.0, 6.0)), (2.0, -1.5, 1.0))
    moving = moving_for(fixed, truth)
    fixed_labels = fixed.with_array(labels, is_label=True)
    moving_labels = moving_for(fixed_labels, truth)
    points = fixed.index_to_physical(np.array([[15, 13, 11], [10, 10, 8], [20, 16, 14]], float))
    paths = {
        "fixed": write_image(fixed, folder / "fixed.nii.gz"),
        "moving": write_image(moving, folder / "moving.nii.gz"),
        "fixed_labels": write_image(fixed_labels, folder / "fixed_labels.nii.gz"),
        "moving_labels": write_image(moving_labels, folder / "moving_labels.nii.gz"),
        "fixed_points": write_points_csv(folder / "fixed.csv", points),
        "moving_points": write_points_csv(folder / "moving.csv", truth.transform_points(points)),
    }
    return paths, truth


def test_register_writes_stable_outputs_and_metrics(pair3d, tmp_path, capsys):
    paths, truth = pair3d
    before = {name: _digest(p) for name, p in paths.items()}
    out = tmp_path / "out"
    code = main(
        [
            "register",
            str(paths["fixed"]),
            str(paths["moving"]),
            "-o",
            str(out),
            "--method",
            "rigid,affine",
            "--metric",
            "mse",
            "--fixed-labels",
            str(paths["fixed_labels"]),
            "--moving-labels",
            str(paths["moving_labels"]),
            "--fixed-landmarks",
            str(paths["fixed_points"]),
            "--moving-landmarks",
            str(paths["moving_points"]),
        ]
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "warped.nii.gz",
        "transform.tfm",
        "displacement.nii.gz",
        "jacobian.nii.gz",
        "warped_labels.nii.gz",
        "metrics.json",
    }
    document = json.loads((out / "metrics.json").read_text())
    assert document["method"] == "rigid,affine" and document["status"] == "completed" and document["runtime_s"] > 0
    for key in ("ncc", "mi", "mse", "ssim", "dice_mean", "dice", "hd95_mean_mm", "tre_mean_mm", "tre_max_mm"):
        assert key in document["before"] and key in document["after"], key
    assert document["after"]["dice_mean"] > document["before"]["dice_mean"]
    assert document["after"]["tre_mean_mm"] < 0.5 < document["before"]["tre_mean_mm"]
    assert document["after"]["jacobian_min"] > 0 and document["after"]["folded_pct"] == 0
    transform = read_transform(out / "transform.tfm")
    points = np.array([[-5.0, -3.0, 25.0], [0.0, 2.0, 30.0]])
    assert np.abs(transform.transform_points(points) - truth.transform_points(points)).max() < 0.5
    warped = read_image(out / "warped.nii.gz")
    assert warped.geometry.same_as(read_image(paths["fixed"]).geometry, 1e-4)
    assert {name: _digest(p) for name, p in paths.items()} == before  # inputs untouched
    assert "dice_mean" in capsys.readouterr().out


def test_bspline_result_is_h5_composite(pair3d, tmp_path):
    paths, _ = pair3d
    out = tmp_path / "out"
    code = main(
        [
            "register",
            str(paths["fixed"]),
            str(paths["moving"]),
            "-o",
            str(out),
            "--method",
            "affine,bspline",
            "--param",
            "iterations=20",
            "--param",
            "mesh_spacing_mm=20",
        ]
    )
    assert code == 0
    assert (out / "transform.h5").exists() and not (out / "transform.tfm").exists()
    document = json.loads((out / "metrics.json").read_text())
    assert [s["method"] for s in document["stages"]] == ["affine", "bspline"]
    assert document["stages"][1]["parameters"]["iterations"] == 20
    assert "jacobian_min" in document["after"] and "folded_pct" in document["after"]
    jacobian = read_image(out / "jacobian.nii.gz")  # the map behind those figures, on the fixed grid
    assert jacobian.array.min() == pytest.approx(document["after"]["jacobian_min"], rel=1e-5)
    assert document["folds"]["regions"] == len(document["folds"]["largest"]) or document["folds"]["regions"] > 50


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err
    assert lines and lines[-1].startswith("regviewer: error:")
    return lines[-1]


def test_error_missing_and_non_image_files(pair3d, tmp_path, capsys):
    paths, _ = pair3d
    assert main(["register", str(tmp_path / "nope.nii.gz"), str(paths["moving"]), "-o", str(tmp_path / "o")]) == 2
    assert "nope.nii.gz" in _error_line(capsys)
    text = tmp_path / "notes.nii.gz"
    text.write_text("not an image")
    assert main(["register", str(paths["fixed"]), str(text), "-o", str(tmp_path / "o")]) == 2
    assert "notes.nii.gz" in _error_line(capsys)
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(paths["moving"].read_bytes()[:400])
    assert main(["register", str(paths["fixed"]), str(truncated), "-o", str(tmp_path / "o")]) == 2
    assert "truncated.nii.gz" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_error_4d_nan_and_zero_spacing(pair3d, tmp_path, capsys):
    paths, _ = pair3d
    four_d = tmp_path / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 3), np.float32), np.eye(4)), four_d)
    assert main(["register", str(paths["fixed"]), str(four_d), "-o", str(tmp_path / "o")]) == 2
    line = _error_line(capsys)
    assert "4D" in line or "4 dimensions" in line, line
    nan = tmp_path / "nan.nii.gz"
    data = np.ones((8, 8, 8), np.float32)
    data[2, 3, 4] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), nan)
    assert main(["register", str(paths["fixed"]), str(nan), "-o", str(tmp_path / "o")]) == 2
    assert "NaN" in _error_line(capsys)
    zero = tmp_path / "zero.mha"
    write_image(Image.from_array(np.ones((8, 8, 8), np.float32)), zero)
    content = zero.read_bytes()
    assert b"ElementSpacing = 1 1 1" in content
    zero.write_bytes(content.replace(b"ElementSpacing = 1 1 1", b"ElementSpacing = 1 0 1"))
    assert main(["register", str(paths["fixed"]), str(zero), "-o", str(tmp_path / "o")]) == 2
    assert "spacing" in _error_line(capsys).lower()


def test_error_dimension_mismatch_and_masks(pair3d, shared_data, tmp_path, capsys):
    paths, _ = pair3d
    slice2d = shared_data / "brain2d" / "r16slice.jpg"
    assert main(["register", str(slice2d), str(paths["moving"]), "-o", str(tmp_path / "o")]) == 2
    assert "2D" in _error_line(capsys)
    fixed = read_image(paths["fixed"])
    far = Image(np.zeros(fixed.shape, np.uint8), fixed.geometry)
    mask_a = far.array.copy()
    mask_a[:5, :5, :5] = 1
    mask_b = far.array.copy()
    mask_b[-5:, -5:, -5:] = 1
    a = write_image(far.with_array(mask_a, is_label=True), tmp_path / "mask_a.nii.gz")
    b = write_image(far.with_array(mask_b, is_label=True), tmp_path / "mask_b.nii.gz")
    assert (
        main(
            [
                "register",
                str(paths["fixed"]),
                str(paths["moving"]),
                "-o",
                str(tmp_path / "o"),
                "--fixed-mask",
                str(a),
                "--moving-mask",
                str(b),
            ]
        )
        == 2
    )
    assert "do not overlap" in _error_line(capsys)
    empty = write_image(far.with_array(np.zeros(fixed.shape, np.uint8), is_label=True), tmp_path / "empty.nii.gz")
    assert (
        main(
            [
                "register",
                str(paths["fixed"]),
                str(paths["moving"]),
                "-o",
                str(tmp_path / "o"),
                "--fixed-mask",
                str(empty),
            ]
        )
        == 2
    )
    assert "empty" in _error_line(capsys)


def test_error_bad_method_parameter_and_landmarks(pair3d, tmp_path, capsys):
    paths, _ = pair3d
    base = ["register", str(paths["fixed"]), str(paths["moving"]), "-o", str(tmp_path / "o")]
    assert main(base + ["--method", "magic"]) == 2
    assert "unknown method" in _error_line(capsys)
    assert main(base + ["--param", "iteratoins=3"]) == 2
    assert "iteratoins" in _error_line(capsys)
    assert main(base + ["--param", "iterations=-3"]) == 2
    assert "minimum" in _error_line(capsys)
    assert main(base + ["--preset", "nonexistent"]) == 2
    assert "unknown preset" in _error_line(capsys)
    assert main(base + ["--fixed-landmarks", str(paths["fixed_points"])]) == 2
    assert "both" in _error_line(capsys)
    assert main(base + ["--labels", "brain,stem"]) == 2  # refused before any registration runs
    assert "--labels" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_debug_shows_traceback_and_subprocess_exit_code(pair3d, tmp_path):
    paths, _ = pair3d
    command = [
        sys.executable,
        "-m",
        "regviewer",
        "register",
        str(tmp_path / "missing.nii.gz"),
        str(paths["moving"]),
        "-o",
        str(tmp_path / "o"),
    ]
    plain = subprocess.run(command, capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1
    debug = subprocess.run(command[:3] + ["--debug"] + command[3:], capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
