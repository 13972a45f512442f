"""The optional Greedy plugin (plugins/regviewer-greedy, GPL-3.0): RAS matrices converted, Greedy's own
resliced image equals ours through the read-back transforms, known affine in 2D, Dice on a 3D pair, cancel.
Runs where picsl-greedy is installed; the plugin is imported from its source folder (it is never bundled)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation, smooth_random_field

from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.metrics import dice_per_label
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image
from regviewer.core.transforms import CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.registry import build_registry

picsl_greedy = pytest.importorskip("picsl_greedy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "regviewer-greedy"))
import regviewer_greedy  # noqa: E402


@pytest.fixture(scope="module")
def registry():
    from importlib import metadata

    names = {"greedy-affine": "GreedyAffineMethod", "greedy-deformable": "GreedyDeformableMethod"}
    entries = [metadata.EntryPoint(name, f"regviewer_greedy:{cls}", "regviewer.methods") for name, cls in names.items()]
    registry = build_registry(entries)
    assert not registry.errors
    return registry


@pytest.fixture(scope="module")
def r16(shared_data):
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


def test_ras_matrices_become_lps():
    from regviewer.core.transforms import AffineTransform

    lps = AffineTransform(rotation((3.0, -2.0, 5.0)), (4.0, -5.0, 6.0))
    ras = regviewer_greedy.lps_to_matrix(lps)
    point_lps = np.array([10.0, -20.0, 30.0])
    point_ras = point_lps * [-1, -1, 1]
    assert np.allclose((ras @ np.append(point_ras, 1))[:3] * [-1, -1, 1], lps.transform_points(point_lps))
    assert np.allclose(regviewer_greedy.matrix_to_lps(ras).homogeneous, lps.homogeneous)


def test_greedy_reslice_equals_ours_through_the_read_back_transforms(tmp_path, registry, shared_data, r16):
    r64 = read_image(shared_data / "brain2d" / "r64slice.jpg")
    result = run_chain(
        [Stage("greedy-affine", {"iterations": "40,20,10"}), Stage("greedy-deformable", {"iterations": "40,20,10"})],
        Request(r16, r64),
        registry=registry,
    )
    assert isinstance(result.transform, CompositeTransform)
    # Greedy reslices with its own files: write ours back in Greedy's conventions and compare
    warp, affine = result.transform.transforms
    for image, name in ((r16, "f"), (r64, "m")):
        sitk.WriteImage(sitk.Cast(image.to_sitk(), sitk.sitkFloat32), str(tmp_path / f"{name}.nii.gz"))
    regviewer_greedy.write_matrix(affine, tmp_path / "affine.mat")
    sitk.WriteImage(sitk.Cast(warp.to_sitk_image(), sitk.sitkVectorFloat32), str(tmp_path / "warp.nii.gz"))
    picsl_greedy.Greedy2D().execute(
        f"-d 2 -rf {tmp_path / 'f.nii.gz'} -rm {tmp_path / 'm.nii.gz'} {tmp_path / 'resliced.nii.gz'} "
        f"-r {tmp_path / 'warp.nii.gz'} {tmp_path / 'affine.mat'}"
    )
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "resliced.nii.gz")))
    mine = resample_image(r64, r16.geometry, result.transform, "linear").array
    difference = np.abs(reference - mine)[2:-2, 2:-2] / float(np.ptp(r64.array))
    print(f"Greedy reslice vs RegViewer: max {difference.max():.2e} of the range")
    assert difference.max() < 1e-3


def test_greedy_affine_recovers_known_affine_2d(registry, r16):
    truth = about_centre(r16, rotation(-6.0) @ np.array([[1.08, 0.04], [0.0, 0.93]]), (-4.0, 6.0))
    result = registry.get("greedy-affine").run(Request(r16, moving_for(r16, truth), {"metric": "ssd"}))
    error = max_error_mm(result.transform, truth, foreground_points(r16))
    print(f"Greedy affine 2D: max error {error:.3f} mm")
    assert error < 0.5


def test_greedy_raises_dice_3d_and_cancels(registry, shared_data):
    npz = shared_data / "brain3d" / "test_scan.npz"
    labels = np.load(shared_data / "brain3d" / "labels.npz")["labels"].astype(int).tolist()

    def small(image: Image) -> Image:
        source = image.to_sitk() if image.is_label else sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
        kind = sitk.sitkNearestNeighbor if image.is_label else sitk.sitkLinear
        out = sitk.Resample(
            source,
            [n // 3 for n in source.GetSize()],
            sitk.Transform(),
            kind,
            source.TransformContinuousIndexToPhysicalPoint([1.0] * 3),
            [3.0] * 3,
            source.GetDirection(),
            0,
        )
        return Image.from_sitk(out, is_label=image.is_label)

    image, segmentation = small(read_image(npz)), small(read_image(npz, is_label=True))
    truth = CompositeTransform(
        [
            smooth_random_field(image.geometry, 4.0, seed=3),
            about_centre(image, rotation((3.0, -2.0, 4.0)), (3.0, -2.0, 2.0)),
        ]
    )
    moving = resample_image(image, image.geometry, truth.inverse())
    moving_labels = resample_image(segmentation, image.geometry, truth.inverse(), "label")
    result = run_chain([Stage("greedy-affine"), Stage("greedy-deformable")], Request(image, moving), registry=registry)

    def dice(transform):
        warped = resample_image(moving_labels, image.geometry, transform, "label").array
        return float(np.mean(list(dice_per_label(segmentation.array, warped, labels).values())))

    before, after = dice(None), dice(result.transform)
    print(f"Greedy affine -> deformable: Dice {before:.3f} -> {after:.3f}")
    assert after > before + 0.2 and after > 0.8
    token, at = CancelToken(), []

    def progress(event):
        if not at:
            at.append(time.perf_counter())
            token.cancel()

    cancelled = registry.get("greedy-deformable").run(
        Request(image, moving, {"iterations": "5000,5000,5000"}), progress, token
    )
    # 3 x 5000 iterations would take many minutes: a cancelled result proves the cancel was honoured
    # (how fast is measured by the benchmarks, not asserted here)
    assert cancelled.status == "cancelled" and at
