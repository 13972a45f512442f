"""Groupwise registration: elastix's variance-over-the-series B-spline on the 2D brain slices (CLI,
outputs, lower variance) and on a fundus pair made with a known warp (skimage.data.retina)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import foreground_points, smooth_random_field

from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.resample import resample_image

pytest.importorskip("itk")


def _variance(images: list[np.ndarray]) -> float:
    return float(np.mean(np.var(np.stack(images), axis=0)))


def test_cli_groupwise_brain_slices_lowers_the_variance(tmp_path, shared_data):
    from regviewer.cli import main

    paths = [shared_data / "brain2d" / name for name in ("r16slice.jpg", "r27slice.jpg", "r30slice.jpg")]
    out = tmp_path / "out"
    code = main(["groupwise", *map(str, paths), "-o", str(out), "--iterations", "80", "--resolutions", "2"])
    assert code == 0
    document = json.loads((out / "groupwise.json").read_text())
    assert document["status"] == "completed" and len(document["images"]) == 3
    for entry in document["images"]:
        for key in ("transform", "warped", "figure"):
            assert (out / entry[key]).is_file()
    warped = [read_image(out / entry["warped"]).array.astype(float) for entry in document["images"]]
    before = [read_image(path).array.astype(float) for path in paths]
    mean = read_image(out / "mean.nii.gz").array
    print(f"variance across the series: {_variance(before):.1f} -> {_variance(warped):.1f}")
    assert _variance(warped) < 0.8 * _variance(before)
    assert np.allclose(mean, np.mean(warped, axis=0), atol=1e-3)


def test_elastix_groupwise_recovers_a_known_warp_between_two_fundus_images():
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    from regviewer.registration.groupwise import elastix_groupwise

    grey = resize(rgb2gray(data.retina()), (240, 240), anti_aliasing=True).astype(np.float32)
    first = Image(grey * 255, Geometry((240, 240), (1.0, 1.0), (0.0, 0.0), np.eye(2)))
    known = smooth_random_field(first.geometry, 4.0, coarse_mm=40.0, seed=5)  # second(x) = first(known(x))
    second = resample_image(first, first.geometry, known, "linear")
    result = elastix_groupwise([first, second], iterations=200, grid_spacing_mm=20.0, resolutions=3)
    inside = foreground_points(first, 300, seed=2)
    inside = inside[np.all((inside > 30) & (inside < 210), axis=1)]  # away from the border the warp has no data
    before = np.linalg.norm(known.transform_points(inside) - inside, axis=1)
    t_first, t_second = result.transforms
    after = np.linalg.norm(
        known.transform_points(t_second.transform_points(inside)) - t_first.transform_points(inside), axis=1
    )
    print(
        f"fundus pair: inconsistency with the known warp, median {np.median(before):.2f} -> {np.median(after):.2f} px"
    )
    assert np.median(after) < 0.5 * np.median(before) and np.median(after) < 1.0


def test_elastix_groupwise_3d_recovers_known_shifts(shared_data):
    """3D series: elastix stacks them into one 4D image (itk-elastix 0.25.4 registers 4D stacks)."""
    import SimpleITK as sitk

    from regviewer.core.transforms import AffineTransform
    from regviewer.registration.groupwise import elastix_groupwise

    source = sitk.Cast(read_image(shared_data / "brain3d" / "test_scan.npz").to_sitk(), sitk.sitkFloat32)
    size = [int(n * s / 6.0) for n, s in zip(source.GetSize(), source.GetSpacing())]
    small = sitk.Resample(
        sitk.SmoothingRecursiveGaussian(source, 2.0),
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        source.GetOrigin(),
        [6.0] * 3,
        source.GetDirection(),
        0,
    )
    base = Image.from_sitk(small)
    shifts = [np.zeros(3), np.array([4.0, -3.0, 2.0]), np.array([-3.0, 4.0, -2.0])]
    images = [resample_image(base, base.geometry, AffineTransform(np.eye(3), d), "linear") for d in shifts]
    result = elastix_groupwise(images, iterations=100, grid_spacing_mm=30.0, resolutions=2, samples=2048)
    points = foreground_points(base, 300, seed=1)
    low, high = np.percentile(points, 20, axis=0), np.percentile(points, 80, axis=0)
    points = points[np.all((points > low) & (points < high), axis=1)]  # the inner part: the borders have no data
    assert result.status == "completed" and all(t.ndim == 3 for t in result.transforms)
    for number in (1, 2):  # image_k(x) = base(x + d_k): T_k(m) - T_0(m) = d_0 - d_k
        found = result.transforms[number].transform_points(points) - result.transforms[0].transform_points(points)
        error = np.linalg.norm(found - (shifts[0] - shifts[number]), axis=1)
        print(f"3D groupwise image {number}: shift {shifts[number]} mm, error median {np.median(error):.2f} mm")
        assert np.median(error) < 1.5 and np.median(error) < 0.3 * np.linalg.norm(shifts[number])  # 6 mm voxels
