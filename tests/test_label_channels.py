"""4D one-hot label maps (the prostate cohort's): one channel, or the integer map, in core, CLI and window."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from regviewer.cli import main
from regviewer.core.errors import InvalidImageError, RegViewerError
from regviewer.core.io import read_image
from regviewer.core.io.label_channels import (
    ONEHOT,
    LabelFile,
    channel_count,
    onehot_to_labels,
    parse_label_channel,
    read_label_map,
)


@pytest.fixture
def case(shared_data):
    folder = shared_data / "prostate_cohort" / "test"
    return {
        kind: folder / kind / "case000025.nii.gz"
        for kind in ("fixed_images", "moving_images", "fixed_labels", "moving_labels")
    }


def _channels(path):
    return np.asarray(nib.load(str(path)).dataobj).T  # (c, z, y, x)


def test_onehot_gives_k_plus_one_with_ties_to_the_last_channel_and_zero_background(case):
    raw = _channels(case["fixed_labels"])
    assert channel_count(case["fixed_labels"]) == 3 and channel_count(case["fixed_images"]) == 1
    image = read_label_map(case["fixed_labels"], ONEHOT)
    reference = read_image(case["fixed_images"])
    assert image.is_label and image.array.shape == reference.array.shape
    assert image.geometry.same_as(reference.geometry)
    labels = image.array
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert np.array_equal(labels == 0, ~np.any(raw > 0, axis=0))
    for k in (1, 2):  # the landmark blobs lie partly inside the gland: they stay whole
        assert np.array_equal(labels == k + 1, raw[k] > 0)
    assert np.count_nonzero(labels == 1) == np.count_nonzero((raw[0] > 0) & (raw[1] == 0) & (raw[2] == 0))
    assert np.count_nonzero((raw[0] > 0) & ((raw[1] > 0) | (raw[2] > 0))) > 0  # the overlap exists in this file


def test_one_channel_and_the_errors(case):
    blob = read_label_map(LabelFile(str(case["moving_labels"]), 2))
    assert np.array_equal(blob.array, _channels(case["moving_labels"])[2].astype(blob.array.dtype))
    assert blob.name.endswith("[2]")
    with pytest.raises(InvalidImageError, match="3 channels.*onehot"):
        read_label_map(case["fixed_labels"])
    with pytest.raises(InvalidImageError, match="out of range"):
        read_label_map(case["fixed_labels"], 3)
    assert (
        parse_label_channel("OneHot") == ONEHOT and parse_label_channel("1") == 1 and parse_label_channel(None) is None
    )
    for bad in ("-1", "first", "1.5"):
        with pytest.raises(RegViewerError):
            parse_label_channel(bad)
    plain = read_label_map(case["fixed_images"], ONEHOT)  # a 3D map is its own integer map
    assert plain.is_label and plain.array.ndim == 3


def test_onehot_soft_probabilities_and_many_channels():
    soft = np.array([[0.2, 0.0, 0.5], [0.7, 0.0, 0.5]])  # (c=2, 3 voxels)
    assert onehot_to_labels(soft).tolist() == [2, 0, 2]
    many = np.zeros((300, 4))
    many[299, 1] = 1
    assert onehot_to_labels(many).dtype == np.uint16 and onehot_to_labels(many)[1] == 300


def test_register_with_onehot_labels_scores_every_structure(case, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "register",
            str(case["fixed_images"]),
            str(case["moving_images"]),
            "-o",
            str(out),
            "--method",
            "affine",
            "--param",
            "iterations=5",
            "--fixed-labels",
            str(case["fixed_labels"]),
            "--moving-labels",
            str(case["moving_labels"]),
            "--fixed-labels-channel",
            "onehot",
            "--moving-labels-channel",
            "onehot",
        ]
    )
    assert code == 0, capsys.readouterr().err
    document = json.loads((out / "metrics.json").read_text())
    assert set(document["after"]["dice"]) == {"1", "2", "3"}  # the gland and both landmark blobs
    assert 0 < document["after"]["dice_mean"] <= 1
    warped = read_image(next(out.glob("warped_labels.*")), is_label=True)
    assert set(np.unique(warped.array)) <= {0, 1, 2, 3} and np.count_nonzero(warped.array == 1) > 0


def test_register_without_a_choice_names_the_options_and_a_bad_one_fails_early(case, tmp_path, capsys):
    base = [
        "register",
        str(case["fixed_images"]),
        str(case["moving_images"]),
        "-o",
        str(tmp_path / "o"),
        "--method",
        "affine",
    ]
    assert main(base + ["--fixed-labels", str(case["fixed_labels"])]) == 2
    err = capsys.readouterr().err
    assert "--fixed-labels-channel" in err and "onehot" in err and len(err.strip().splitlines()) == 1
    assert main(base + ["--fixed-labels", str(case["fixed_labels"]), "--fixed-labels-channel", "gland"]) == 2
    assert "expected a channel index" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_render_with_a_label_channel(case, tmp_path):
    out = tmp_path / "figure.png"
    code = main(
        [
            "render",
            str(case["fixed_images"]),
            str(case["moving_images"]),
            "-o",
            str(out),
            "--labels",
            str(case["fixed_labels"]),
            str(case["moving_labels"]),
            "--fixed-labels-channel",
            "0",
            "--moving-labels-channel",
            "onehot",
            "--size",
            "400x300",
        ]
    )
    assert code == 0 and out.stat().st_size > 1000
