"""Whole-volume overlay figures: Dice / HD95 per label after known warps, label centres, colour tables, Jacobian outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from regviewer import paths
from regviewer.core.colour_table import freesurfer_table, generic_table, read_colour_table, table_for
from regviewer.core.errors import ImageReadError
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.label_stats import deformation_summary, label_centre_mm, label_scores, warp_labels
from regviewer.core.transforms import AffineTransform, DisplacementFieldTransform
from regviewer.registration.jacobian_output import write_jacobian_map

GEOMETRY = Geometry((20, 30, 40), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))


def boxes() -> Image:
    array = np.zeros(GEOMETRY.shape, dtype=np.uint8)
    array[5:15, 5:25, 4:14] = 1  # 10 voxels long in x
    array[5:15, 5:25, 20:30] = 2
    return Image(array, GEOMETRY, name="fixed labels", is_label=True)


def test_dice_per_label_after_a_known_label_preserving_warp():
    fixed = boxes()
    shift_voxels = 3
    moving = fixed.with_array(np.roll(fixed.array, shift_voxels, axis=2))  # labels moved +3 voxels in x
    step_mm = GEOMETRY.spacing[0]  # x spacing (ITK order)
    truth = AffineTransform(np.eye(3), (shift_voxels * step_mm, 0.0, 0.0))  # fixed -> moving: +3 voxels in x
    scores, before, after = label_scores(fixed, moving, truth)
    expected_before = (10 - shift_voxels) / 10  # overlap of two 10-voxel boxes shifted by 3
    for row in scores.rows:
        assert row.dice_before == pytest.approx(expected_before)
        assert row.dice_after == pytest.approx(1.0)
        assert row.hd95_after_mm == pytest.approx(0.0)
        assert row.hd95_before_mm == pytest.approx(shift_voxels * step_mm)
    assert scores.dice_mean_after == pytest.approx(1.0) and scores.dice_mean_before == pytest.approx(expected_before)
    assert np.array_equal(after.array, fixed.array)
    # A half-way warp: the boxes overlap by 10 - 1 voxels of 10 after moving 2 of the 3 voxels back.
    partial, _b, _a = label_scores(fixed, moving, AffineTransform(np.eye(3), (2 * step_mm, 0.0, 0.0)), before=before)
    assert [row.dice_after for row in partial.rows] == pytest.approx([0.9, 0.9])


def test_per_label_linear_warp_keeps_label_values_and_matches_nearest_for_shifts():
    fixed = boxes()
    shift = AffineTransform(np.eye(3), (4.0, 2.0, 0.0))
    nearest = warp_labels(fixed, GEOMETRY, shift, "nearest")
    linear = warp_labels(fixed, GEOMETRY, shift, "per-label linear")
    assert set(np.unique(linear.array)) <= {0, 1, 2}
    assert np.array_equal(nearest.array, linear.array)


def test_label_centre_lies_inside_a_curved_label():
    array = np.zeros((1, 40, 40), dtype=np.uint8)
    yy, xx = np.mgrid[0:40, 0:40]
    ring = (np.hypot(yy - 20, xx - 20) < 15) & (np.hypot(yy - 20, xx - 20) > 10)
    array[0][ring] = 5
    labels = Image(array, Geometry((1, 40, 40), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)), is_label=True)
    point = label_centre_mm(labels, 5)
    index = np.round(labels.physical_to_index(point)).astype(int)
    assert labels.array[index[2], index[1], index[0]] == 5
    assert label_centre_mm(labels, 9) is None


def test_deformation_summary_of_a_scaling_and_of_a_fold():
    summary = deformation_summary(AffineTransform(np.eye(3) * 1.1), GEOMETRY)
    assert summary.stats["jacobian_min"] == pytest.approx(1.331) and summary.folds == []
    displacement = np.zeros(GEOMETRY.shape + (3,))
    displacement[10, 15, 18:22, 0] = [0.0, -3.0, -6.0, 0.0]  # x + u_x decreases between voxels: a fold
    summary = deformation_summary(DisplacementFieldTransform(displacement, GEOMETRY), GEOMETRY)
    assert summary.stats["folded_count"] > 0 and len(summary.folds) >= 1


def test_register_output_writes_the_jacobian_map_and_folds(tmp_path):
    displacement = np.zeros(GEOMETRY.shape + (3,))
    displacement[10, 15, 18:22, 0] = [0.0, -3.0, -6.0, 0.0]
    path, folds = write_jacobian_map(DisplacementFieldTransform(displacement, GEOMETRY), tmp_path / "jacobian.nii.gz")
    det = read_image(path)
    assert det.shape == GEOMETRY.shape and det.array.min() <= 0
    assert folds["regions"] >= 1 and folds["largest"][0]["voxel_count"] >= 1
    json.dumps(folds)  # JSON-ready


def test_freesurfer_names_for_the_brain_sample_generic_otherwise():
    labels = read_image(paths.SAMPLE_3D_FIXED_LABELS, is_label=True)
    table = table_for(np.unique(labels.array))
    assert table.source == "FreeSurfer"
    assert table.name(17) == "Left-Hippocampus" and table.colour(17) == (220, 216, 20)
    assert table.name(2) == "Left-Cerebral-White-Matter"
    small = table_for([1, 2])
    assert small.source == "generic" and small.name(2) == "Label 2"
    assert generic_table([3, 4]).colour(3) != generic_table([3, 4]).colour(4)
    assert len(freesurfer_table().names) > 40


def test_read_slicer_and_itksnap_colour_tables_and_reject_junk(tmp_path):
    slicer = tmp_path / "slicer.ctbl"
    slicer.write_text("# Color table file\n0 Background 0 0 0 0\n1 liver 221 130 101 255\n2 tumour 144 238 144 255\n")
    table = read_colour_table(slicer)
    assert table.name(1) == "liver" and table.colour(2) == (144, 238, 144)
    snap = tmp_path / "labels.txt"
    snap.write_text(
        '# ITK-SnAP Label Description File\n    0     0    0    0        0  0  0    "Clear Label"\n'
        '    1   255    0    0        1  1  1    "Left ventricle"\n'
    )
    table = read_colour_table(snap)
    assert table.name(1) == "Left ventricle" and table.colour(1) == (255, 0, 0)
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    with pytest.raises(ImageReadError, match="line 1"):
        read_colour_table(junk)
    with pytest.raises(ImageReadError, match="cannot read"):
        read_colour_table(tmp_path / "missing.txt")
