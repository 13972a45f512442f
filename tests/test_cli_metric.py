"""``regviewer register --metric``: each method's own metric names (from the registry's parameter schema),
matched without regard to case; a wrong name is one line and exit 2, listing the valid names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation

from regviewer.cli.main import main
from regviewer.cli.register import _with_metric
from regviewer.core.errors import RegViewerError
from regviewer.core.io import read_image, write_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.registration.pipeline import parse_methods


def test_metric_takes_each_methods_own_names():
    stages = _with_metric(parse_methods("ants-rigid,ants-affine"), "cc")
    assert [stage.parameters["metric"] for stage in stages] == ["CC", "CC"]  # ANTs' spelling
    stages = _with_metric(parse_methods("rigid,demons,affine"), "ANTS_NCC")
    assert [stage.parameters.get("metric") for stage in stages] == ["ants_ncc", None, "ants_ncc"]
    stages = _with_metric(parse_methods("elastix-affine"), "mse")
    assert stages[0].parameters["metric"] == "mse"


def test_metric_errors_name_the_valid_choices():
    with pytest.raises(
        RegViewerError, match=r"mattes is not a metric of affine \(choose from: mse, ncc, mi, ants_ncc\)"
    ):
        _with_metric(parse_methods("affine"), "mattes")
    with pytest.raises(RegViewerError, match=r"no metric name fits every stage: rigid: .*; ants-syn: mattes, CC"):
        _with_metric(parse_methods("rigid,ants-syn"), "mi")
    with pytest.raises(RegViewerError, match="demons has no metric to set"):
        _with_metric(parse_methods("demons"), "mi")


def test_cli_wrong_metric_is_one_line_and_exit_2(shared_data, tmp_path, capsys):
    brain = shared_data / "brain2d"
    out = tmp_path / "out"
    code = main(
        ["register", str(brain / "r16slice.jpg"), str(brain / "r27slice.jpg"), "-o", str(out)]
        + ["--method", "ants-syn", "--metric", "mi"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        "regviewer: error: --metric mi is not a metric of ants-syn (choose from: mattes, CC, meansquares)"
    ]
    assert not out.exists() or not any(out.iterdir())


def test_cli_ants_metric_name_runs_and_is_recorded(shared_data, tmp_path):
    pytest.importorskip("ants")
    fixed = read_image(shared_data / "brain2d" / "r16slice.jpg")
    truth = about_centre(fixed, rotation(-5.0) @ np.array([[1.05, 0.0], [0.03, 0.96]]), (3.0, -4.0))
    write_image(fixed, tmp_path / "fixed.nii.gz")
    write_image(moving_for(fixed, truth), tmp_path / "moving.nii.gz")
    out = tmp_path / "out"
    code = main(
        ["register", str(tmp_path / "fixed.nii.gz"), str(tmp_path / "moving.nii.gz"), "-o", str(out)]
        + ["--method", "ants-affine", "--metric", "MeanSquares"]
    )
    assert code == 0
    stages = json.loads((out / "metrics.json").read_text())["stages"]
    assert [stage["parameters"]["metric"] for stage in stages] == ["meansquares"]
    assert max_error_mm(read_transform(out / "transform.tfm"), truth, foreground_points(fixed)) < 0.5
