"""elastix TransformParameters files: ours -> file -> transformix equals our own warped image (1e-3),
elastix's Euler / Similarity / Affine / BSpline files and chains read back as the map transformix applies,
and the CLI's --init / --export-elastix. transformix (itk-elastix) is the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import about_centre, rotation, smooth_random_field

from regviewer.core.errors import ImageReadError, InputMismatchError
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.io.elastix_params import (
    format_parameter_text,
    grid_entries,
    read_elastix_transform,
    write_elastix_transform,
)
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, BSplineTransform, CompositeTransform, Transform

itk = pytest.importorskip("itk")


@pytest.fixture(scope="module")
def images(shared_data):
    """A 2D slice and a small 3D volume, both with non-trivial origin, spacing and direction."""
    from regviewer.registration.elastix import load_itk

    load_itk()
    slice_2d = read_image(shared_data / "brain2d" / "r16slice.jpg")
    angle = math.radians(20)
    geometry_2d = Geometry(
        slice_2d.geometry.shape,
        (0.9, 1.2),
        (-30.0, 12.5),
        np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]),
    )
    brain = read_image(shared_data / "brain3d" / "test_scan.npz")
    small = sitk.Resample(
        sitk.Cast(brain.to_sitk(), sitk.sitkFloat32),
        [56, 64, 48],
        sitk.Transform(),
        sitk.sitkLinear,
        brain.to_sitk().TransformContinuousIndexToPhysicalPoint([1.0] * 3),
        [3.0, 3.0, 3.2],
        brain.to_sitk().GetDirection(),
        0,
    )
    volume = Image.from_sitk(small)
    flipped = np.diag([1.0, -1.0, 1.0]) @ rotation((0.0, 0.0, 15.0))
    volume = Image(
        volume.array.astype(np.float32), Geometry(volume.geometry.shape, (3.0, 3.0, 3.2), (10.0, -20.0, 5.0), flipped)
    )
    return Image(slice_2d.array.astype(np.float32), geometry_2d), volume


def transformix(moving: Image, parameter_file) -> np.ndarray:
    from regviewer.registration.elastix import itk_image

    parameters = itk.ParameterObject.New()
    parameters.ReadParameterFile(str(parameter_file))
    parameters.SetParameter(0, "ResampleInterpolator", "FinalLinearInterpolator")  # as RegViewer's warped image
    return np.asarray(
        itk.array_from_image(itk.transformix_filter(itk_image(itk, moving), parameters, log_to_console=False))
    )


def ours(moving: Image, fixed: Image, transform: Transform) -> np.ndarray:
    return resample_image(moving, fixed.geometry, transform, "linear").array.astype(np.float64)


def assert_same_warp(moving: Image, fixed: Image, transform: Transform, parameter_file) -> None:
    reference = transformix(moving, parameter_file)
    mine = ours(moving, fixed, transform)
    difference = np.abs(reference - mine) / float(np.ptp(moving.array))
    print(f"transformix vs RegViewer: max |diff| {difference.max():.2e} of the intensity range")
    assert difference.max() < 1e-3


def _transforms(image: Image) -> dict[str, Transform]:
    ndim = image.ndim
    angles = 7.0 if ndim == 2 else (3.0, -4.0, 6.0)
    affine = about_centre(image, rotation(angles) @ np.diag([1.06, 0.95, 1.02][:ndim]), (4.0, -3.0, 2.0)[:ndim])
    bspline = sitk.BSplineTransformInitializer(image.geometry.empty_sitk(sitk.sitkFloat32), [5] * ndim, 3)
    bspline.SetParameters(tuple(np.random.default_rng(1).normal(0, 1.5, bspline.GetNumberOfParameters())))
    deformable = BSplineTransform(bspline)
    return {
        "affine": affine,
        "bspline": deformable,
        "classic chain": CompositeTransform([deformable, affine]),
        "elastix chain": CompositeTransform([affine, deformable, affine.inverse()]),
    }


@pytest.mark.parametrize("which", ["affine", "bspline", "classic chain", "elastix chain"])
@pytest.mark.parametrize("dimension", [2, 3])
def test_our_transforms_through_transformix_equal_our_warp(tmp_path, images, which, dimension):
    image = images[dimension - 2]
    transform = _transforms(image)[which]
    written = write_elastix_transform(transform, image.geometry, tmp_path / "TransformParameters.txt")
    assert_same_warp(image, image, transform, written[-1])
    back = read_transform(written[-1])  # and the file reads back as the same map
    points = image.geometry.voxel_centres_mm().reshape(-1, dimension)[::97]
    assert np.max(np.abs(back.transform_points(points) - transform.transform_points(points))) < 1e-6


def _file(tmp_path, name: str, geometry: Geometry, entries: dict, initial: str = "NoInitialTransform"):
    path = tmp_path / name
    entries = {**entries, "NumberOfParameters": len(entries["TransformParameters"])}
    path.write_text(
        format_parameter_text({**entries, **grid_entries(geometry), "InitialTransformParameterFileName": initial})
    )
    return path


def test_elastix_linear_files_and_chains_read_as_transformix_applies_them(tmp_path, images):
    slice_2d, volume = images
    geometry = volume.geometry
    centre = [float(v) for v in volume.index_to_physical((np.array(geometry.size) - 1) / 2.0)]
    euler = _file(
        tmp_path,
        "euler.txt",
        geometry,
        {
            "Transform": "EulerTransform",
            "TransformParameters": [0.05, -0.08, 0.1, 3.0, -2.0, 4.0],
            "CenterOfRotationPoint": centre,
            "ComputeZYX": "true",
        },
    )
    similarity = _file(
        tmp_path,
        "similarity.txt",
        geometry,
        {
            "Transform": "SimilarityTransform",
            "TransformParameters": [0.02, -0.05, 0.04, -1.0, 2.0, 0.5, 1.04],
            "CenterOfRotationPoint": centre,
        },
        initial=str(euler),
    )
    affine = _file(
        tmp_path,
        "affine.txt",
        geometry,
        {
            "Transform": "AffineTransform",
            "TransformParameters": [1.02, 0.03, 0.0, -0.02, 0.97, 0.04, 0.01, 0.0, 1.05, 2.0, 1.0, -3.0],
            "CenterOfRotationPoint": centre,
        },
        initial="similarity.txt",
    )  # relative: beside the file
    for path in (euler, similarity):
        assert_same_warp(volume, volume, read_transform(path), path)
    chained = read_transform(affine)
    assert isinstance(chained, AffineTransform)  # a linear chain collapses to one affine
    # transformix resolves a relative initial file from its working folder: compare with the absolute chain
    absolute = _file(
        tmp_path,
        "affine_abs.txt",
        geometry,
        {
            "Transform": "AffineTransform",
            "TransformParameters": [1.02, 0.03, 0.0, -0.02, 0.97, 0.04, 0.01, 0.0, 1.05, 2.0, 1.0, -3.0],
            "CenterOfRotationPoint": centre,
        },
        initial=str(similarity),
    )
    assert_same_warp(volume, volume, chained, absolute)
    g2 = slice_2d.geometry
    euler_2d = _file(
        tmp_path,
        "euler2d.txt",
        g2,
        {
            "Transform": "EulerTransform",
            "FixedImageDimension": 2,
            "MovingImageDimension": 2,
            "TransformParameters": [0.1, 4.0, -6.0],
            "CenterOfRotationPoint": [10.0, 20.0],
        },
    )
    similarity_2d = _file(
        tmp_path,
        "similarity2d.txt",
        g2,
        {
            "Transform": "SimilarityTransform",
            "TransformParameters": [1.05, -0.07, 2.0, 1.0],
            "CenterOfRotationPoint": [40.0, 60.0],
        },
        initial=str(euler_2d),
    )
    assert_same_warp(slice_2d, slice_2d, read_transform(similarity_2d), similarity_2d)


def test_an_elastix_registration_result_reads_back_exactly(tmp_path, images):
    slice_2d, _ = images
    truth = about_centre(slice_2d, rotation(5.0), (3.0, -2.0))
    moving = resample_image(slice_2d, slice_2d.geometry, truth.inverse())
    defaults = itk.ParameterObject.New()
    affine_map = defaults.GetDefaultParameterMap("affine", 2)
    bspline_map = defaults.GetDefaultParameterMap("bspline", 2, 20.0)
    for parameter_map in (affine_map, bspline_map):
        parameter_map["MaximumNumberOfIterations"] = ["60"]
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(affine_map)
    parameters.AddParameterMap(bspline_map)
    from regviewer.registration.elastix import itk_image

    itk.elastix_registration_method(
        itk_image(itk, slice_2d),
        itk_image(itk, moving),
        parameter_object=parameters,
        output_directory=str(tmp_path),
        log_to_console=False,
    )
    final = tmp_path / "TransformParameters.1.txt"
    transform = read_elastix_transform(final)
    assert isinstance(transform, CompositeTransform) and isinstance(transform.transforms[-1], BSplineTransform)
    assert_same_warp(moving, slice_2d, transform, final)


def test_unsupported_and_broken_files_give_one_line_errors(tmp_path, images):
    geometry = images[1].geometry
    unsupported = _file(
        tmp_path, "spline.txt", geometry, {"Transform": "SplineKernelTransform", "TransformParameters": [0.0] * 6}
    )
    with pytest.raises(ImageReadError, match="SplineKernelTransform is not supported"):
        read_transform(unsupported)
    missing = _file(
        tmp_path,
        "chain.txt",
        geometry,
        {"Transform": "TranslationTransform", "TransformParameters": [1.0, 2.0, 3.0]},
        initial="gone.txt",
    )
    with pytest.raises(ImageReadError, match="gone.txt was not found"):
        read_transform(missing)
    short = _file(tmp_path, "short.txt", geometry, {"Transform": "AffineTransform", "TransformParameters": [1.0, 0.0]})
    with pytest.raises(ImageReadError, match="has 12 parameters"):
        read_transform(short)
    field = smooth_random_field(geometry, 2.0)
    with pytest.raises(InputMismatchError, match="elastix files hold linear and B-spline"):
        write_elastix_transform(field, geometry, tmp_path / "field.txt")


def test_cli_export_elastix_and_init_from_an_elastix_file(tmp_path, images, shared_data):
    from regviewer.cli import main
    from regviewer.core.io import write_image

    plain = read_image(shared_data / "brain2d" / "r16slice.jpg")
    fixed = Image(plain.array.astype(np.float32), plain.geometry)
    truth = about_centre(fixed, rotation(6.0) @ np.diag([1.04, 0.97]), (3.0, -4.0))
    moving = resample_image(fixed, fixed.geometry, truth.inverse())
    write_image(fixed, tmp_path / "fixed.nii.gz")
    write_image(moving, tmp_path / "moving.nii.gz")
    out = tmp_path / "out"
    code = main(
        [
            "register",
            str(tmp_path / "fixed.nii.gz"),
            str(tmp_path / "moving.nii.gz"),
            "-o",
            str(out),
            "--method",
            "affine,bspline",
            "--param",
            "iterations=5",
            "--export-elastix",
        ]
    )
    assert code == 0
    exported = out / "elastix" / "TransformParameters.txt"
    reference = transformix(moving, exported)
    warped = read_image(out / "warped.nii.gz").array
    difference = np.abs(reference - warped) / float(np.ptp(moving.array))
    print(f"--export-elastix: transformix vs OUT/warped max |diff| {difference.max():.2e} of the range")
    assert difference.max() < 1e-3
    code = main(
        [
            "register",
            str(tmp_path / "fixed.nii.gz"),
            str(tmp_path / "moving.nii.gz"),
            "-o",
            str(tmp_path / "again"),
            "--method",
            "elastix-affine",
            "--param",
            "iterations=5",
            "--init",
            str(exported),
        ]
    )
    assert code == 0  # an elastix file is a valid --init (and elastix starts from the whole chain)
