"""Image reading and writing (regviewer.core.io): formats, orientation (RAS <-> LPS), errors.

Geometry is checked where it matters: the physical (LPS mm) position of voxels, compared with
nibabel's affine (flipped to LPS) and with SimpleITK reading the same file.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom.data
import pytest
import SimpleITK as sitk

from regviewer.core.errors import ImageReadError, InvalidImageError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import (
    SUPPORTED_IMAGE_EXTENSIONS,
    WRITABLE_IMAGE_EXTENSIONS,
    ImageWriteError,
    default_extension,
    image_format_family,
    read_image,
    write_image,
)

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
EXAMPLE_4D = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"
DICOM_TESTS = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent / "dicomdirtests"


# ---- helpers ------------------------------------------------------------------------------------
def random_rotation(rng: np.random.Generator, ndim: int = 3, improper: bool = False) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if (np.linalg.det(q) < 0) != improper:
        q[:, 0] = -q[:, 0]
    return q


def oblique_image(ndim: int, dtype=np.float32, seed: int = 0) -> Image:
    """A small image with an oblique direction, anisotropic spacing and an off-centre origin."""
    rng = np.random.default_rng(seed)
    shape = (5, 6, 7)[-ndim:]
    array = (rng.normal(size=shape) * 100).astype(dtype)
    spacing = [0.7, 1.3, 2.9][:ndim]
    origin = [-40.25, 17.5, 63.125][:ndim]
    return Image.from_array(array, spacing=spacing, origin=origin, direction=random_rotation(rng, ndim), name="oblique")


def corner_indices(shape_zyx: tuple[int, ...]) -> np.ndarray:
    """A few (x, y, z) voxel indices: the corners and one inner voxel."""
    size = shape_zyx[::-1]
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in size], indexing="ij")).reshape(len(size), -1).T
    return np.vstack([corners, [n // 2 for n in size]])


def sitk_positions(path: Path, indices: np.ndarray) -> np.ndarray:
    image = sitk.ReadImage(str(path))
    return np.array([image.TransformIndexToPhysicalPoint([int(v) for v in index]) for index in indices])


def nibabel_positions_lps(path: Path, indices: np.ndarray) -> np.ndarray:
    affine = RAS_TO_LPS @ nib.load(str(path)).affine
    padded = np.zeros((len(indices), 4))
    padded[:, : indices.shape[1]] = indices
    padded[:, 3] = 1
    return (padded @ affine.T)[:, : indices.shape[1]]


def ras_affine_of(rotation: np.ndarray, spacing, origin) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def assert_one_line_error(error: pytest.ExceptionInfo, path: Path | str, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


# ---- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("extension", [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_round_trip_keeps_values_and_voxel_positions(tmp_path: Path, extension: str, ndim: int) -> None:
    image = oblique_image(ndim)
    written = write_image(image, tmp_path / f"out{extension}")
    back = read_image(written)
    assert back.array.dtype == image.array.dtype
    np.testing.assert_array_equal(back.array, image.array)
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(back.index_to_physical(indices), image.index_to_physical(indices), atol=1e-5)
    # SimpleITK reading our file places the voxels at the same physical points.
    np.testing.assert_allclose(sitk_positions(written, indices), image.index_to_physical(indices), atol=1e-5)


@pytest.mark.parametrize("extension", [".nii.gz", ".mha", ".nrrd"])
def test_round_trip_labels_keep_integer_values(tmp_path: Path, extension: str) -> None:
    labels = np.random.default_rng(3).integers(0, 300, size=(4, 5, 6)).astype(np.int64)
    image = Image.from_array(labels, spacing=(0.5, 0.6, 0.7), is_label=True)
    back = read_image(write_image(image, tmp_path / f"labels{extension}"), is_label=True)
    assert back.is_label and np.issubdtype(back.array.dtype, np.integer)
    np.testing.assert_array_equal(back.array, labels)


@pytest.mark.parametrize(
    ("extension", "dtype", "ndim"),
    [
        (".png", np.uint8, 2),
        (".png", np.uint16, 2),
        (".tif", np.float32, 2),
        (".tiff", np.int16, 3),
        (".npz", np.float64, 3),
        (".npz", np.float32, 2),
    ],
)
def test_round_trip_pictures_and_npz(tmp_path: Path, extension: str, dtype, ndim: int) -> None:
    rng = np.random.default_rng(5)
    shape = (3, 20, 30)[-ndim:]
    high = 60000 if dtype == np.uint16 else 200
    image = Image.from_array((rng.random(shape) * high).astype(dtype))
    back = read_image(write_image(image, tmp_path / f"picture{extension}"))
    assert back.array.dtype == image.array.dtype
    np.testing.assert_array_equal(back.array, image.array)
    assert back.geometry.same_as(image.geometry)


def test_round_trip_jpeg_is_close_but_lossy(tmp_path: Path, shared_data: Path, caplog) -> None:
    image = read_image(shared_data / "brain2d" / "r16slice.jpg")
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        back = read_image(write_image(image, tmp_path / "copy.jpg"))
    assert "lossy" in caplog.text
    assert back.geometry.same_as(image.geometry)
    assert np.abs(back.array.astype(float) - image.array).mean() < 2.0


def test_npz_labels_round_trip_under_seg_in_voxelmorph_order(tmp_path: Path) -> None:
    labels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)  # (z, y, x)
    path = write_image(Image.from_array(labels, is_label=True), tmp_path / "case.npz")
    with np.load(path) as archive:
        assert archive.files == ["seg"]
        np.testing.assert_array_equal(archive["seg"], labels.transpose(2, 1, 0))
    np.testing.assert_array_equal(read_image(path, is_label=True).array, labels)


def test_geometry_dropped_by_pictures_is_reported(tmp_path: Path, caplog) -> None:
    image = Image.from_array(np.zeros((4, 5), np.uint8), spacing=(0.5, 0.5), origin=(3, 4))
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        back = read_image(write_image(image, tmp_path / "flat.png"))
    assert "no geometry" in caplog.text
    np.testing.assert_array_equal(back.spacing, [1, 1])


# ---- NIfTI orientation: ours == nibabel == SimpleITK --------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("improper", [False, True])
@pytest.mark.parametrize("xform", ["sform", "qform"])
def test_nifti_oblique_voxels_agree_with_nibabel_and_sitk(
    tmp_path: Path, seed: int, improper: bool, xform: str
) -> None:
    rng = np.random.default_rng(seed)
    affine = ras_affine_of(random_rotation(rng, 3, improper), rng.uniform(0.3, 3.0, 3), rng.uniform(-100, 100, 3))
    data = rng.random((7, 5, 4)).astype(np.float32)  # (i, j, k)
    nifti = nib.Nifti1Image(data, None)
    nifti.set_sform(affine, code=2 if xform == "sform" else 0)
    nifti.set_qform(affine, code=1 if xform == "qform" else 0)
    path = tmp_path / "oblique.nii.gz"
    nib.save(nifti, str(path))

    image = read_image(path)
    assert image.shape == (4, 5, 7)
    np.testing.assert_array_equal(image.array, data.transpose(2, 1, 0))
    indices = corner_indices(image.shape)
    ours = image.index_to_physical(indices)
    np.testing.assert_allclose(ours, nibabel_positions_lps(path, indices), atol=1e-5)
    np.testing.assert_allclose(ours, sitk_positions(path, indices), atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_nifti_2d_in_plane_rotation_agrees_with_nibabel_and_sitk(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = ras_affine_of(rotation, [0.8, 2.2, 1.0], [12.5, -30.0, 4.0])
    data = rng.random((9, 6)).astype(np.float32)
    path = tmp_path / "slice.nii"
    nib.save(nib.Nifti1Image(data, affine), str(path))

    image = read_image(path)
    assert image.ndim == 2 and image.shape == (6, 9)
    indices = corner_indices(image.shape)
    ours = image.index_to_physical(indices)
    np.testing.assert_allclose(ours, nibabel_positions_lps(path, indices), atol=1e-5)
    np.testing.assert_allclose(ours, sitk_positions(path, indices), atol=1e-5)


def test_written_nifti_is_read_alike_by_nibabel_and_sitk(tmp_path: Path) -> None:
    image = oblique_image(3, seed=7)
    path = write_image(image, tmp_path / "ours.nii.gz")
    header = nib.load(str(path)).header
    assert int(header["sform_code"]) == 1 and int(header["qform_code"]) == 1
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(nibabel_positions_lps(path, indices), image.index_to_physical(indices), atol=1e-5)
    np.testing.assert_allclose(sitk_positions(path, indices), image.index_to_physical(indices), atol=1e-5)


def test_nifti_without_orientation_is_read_like_itk(tmp_path: Path) -> None:
    nifti = nib.Nifti1Image(np.ones((4, 5, 6), np.int16), None)
    nifti.header.set_zooms((0.5, 2.0, 3.0))
    path = tmp_path / "bare.nii"
    nib.save(nifti, str(path))
    image = read_image(path)
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(image.index_to_physical(indices), sitk_positions(path, indices), atol=1e-6)


@pytest.mark.parametrize("unit", ["meter", "micron", "mm"])
def test_nifti_spatial_units_are_converted_to_mm_like_itk(tmp_path: Path, unit: str) -> None:
    affine = ras_affine_of(random_rotation(np.random.default_rng(4)), [0.002, 0.003, 0.004], [0.01, -0.02, 0.03])
    nifti = nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), affine)
    nifti.header.set_xyzt_units(xyz=unit)
    path = tmp_path / "units.nii"
    nib.save(nifti, str(path))
    image = read_image(path)
    indices = corner_indices(image.shape)
    expected = sitk_positions(path, indices)
    np.testing.assert_allclose(image.index_to_physical(indices), expected, rtol=1e-6, atol=1e-9)
    scale = {"meter": 1000.0, "micron": 1e-3, "mm": 1.0}[unit]
    np.testing.assert_allclose(image.spacing, np.array([0.002, 0.003, 0.004]) * scale, rtol=1e-6)


def test_sheared_sform_falls_back_to_qform_like_itk(tmp_path: Path, caplog) -> None:
    sheared = np.array([[2.0, 0.5, 0, 10], [0, 3, 0, 20], [0, 0, 4, 5], [0, 0, 0, 1]])
    nifti = nib.Nifti1Image(np.ones((5, 6, 7), np.float32), None)
    nifti.set_qform(np.diag([2.0, 3.0, 4.0, 1.0]), code=1)
    nifti.set_sform(sheared, code=2)
    path = tmp_path / "sheared.nii"
    nib.save(nifti, str(path))
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        image = read_image(path)
    assert "not orthogonal" in caplog.text and "qform" in caplog.text
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(image.index_to_physical(indices), sitk_positions(path, indices), atol=1e-5)


def test_sheared_sform_without_qform_uses_closest_rotation(tmp_path: Path, caplog) -> None:
    sheared = np.array([[2.0, 0.5, 0, 10], [0, 3, 0, 20], [0, 0, 4, 5], [0, 0, 0, 1]])
    nifti = nib.Nifti1Image(np.ones((5, 6, 7), np.float32), None)
    nifti.set_sform(sheared, code=2)
    nifti.set_qform(None, code=0)
    path = tmp_path / "sheared.nii"
    nib.save(nifti, str(path))
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        image = read_image(path)  # ITK refuses this file; we read it with a notice
    assert "polar decomposition" in caplog.text and str(path) in caplog.text
    np.testing.assert_allclose(image.direction.T @ image.direction, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(image.spacing, np.linalg.norm(sheared[:3, :3], axis=0))
    np.testing.assert_allclose(image.origin, [-10, -20, 5])


def test_singleton_dimensions(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.ones((4, 5, 1, 1), np.float32), np.eye(4)), str(tmp_path / "a.nii"))
    nib.save(nib.Nifti1Image(np.ones((4, 5, 1), np.float32), np.eye(4)), str(tmp_path / "b.nii"))
    assert read_image(tmp_path / "a.nii").shape == (1, 5, 4)  # (x, y, 1, 1): a 3D image with one slice
    assert read_image(tmp_path / "b.nii").shape == (1, 5, 4)  # one-slice 3D stays 3D


# ---- real data ----------------------------------------------------------------------------------
def test_real_jpeg_slice(shared_data: Path) -> None:
    image = read_image(shared_data / "brain2d" / "r16slice.jpg")
    assert image.ndim == 2 and image.shape == (256, 256) and image.array.dtype == np.uint8
    np.testing.assert_array_equal(image.spacing, [1, 1])
    np.testing.assert_array_equal(image.origin, [0, 0])
    assert image.name == "r16slice.jpg"


def test_real_mha_pair_and_masks(shared_data: Path) -> None:
    for path in sorted((shared_data / "multimodal2d").glob("*.mha")):
        image = read_image(path, is_label="mask" in path.name)
        reference = sitk.ReadImage(str(path))
        assert image.ndim == 2 and image.shape == (256, 256)
        np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(reference))
        np.testing.assert_allclose(image.spacing, reference.GetSpacing())


def test_real_2d_nifti_landmark_labels_agree_with_sitk(shared_data: Path) -> None:
    path = shared_data / "brain2d" / "r16sliceLM.nii.gz"
    image = read_image(path, is_label=True)
    assert image.ndim == 2 and np.issubdtype(image.array.dtype, np.integer)
    assert set(np.unique(image.array)) == {0, 1, 2}
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(image.index_to_physical(indices), sitk_positions(path, indices), atol=1e-5)


@pytest.fixture(scope="module")
def voxelmorph_scan(shared_data: Path) -> tuple[Image, Image]:
    path = shared_data / "brain3d" / "test_scan.npz"
    return read_image(path), read_image(path, is_label=True)


def test_real_voxelmorph_npz_matches_make_d1_convention(voxelmorph_scan, shared_data: Path, tmp_path: Path) -> None:
    volume, labels = voxelmorph_scan
    assert volume.shape == (224, 192, 160) and volume.name == "test_scan.npz:vol"
    with np.load(shared_data / "brain3d" / "test_scan.npz") as archive:
        vol = archive["vol"].astype(np.float32)
    reference = sitk.GetImageFromArray(vol.transpose(2, 1, 0))  # what tools/make_d1.py writes
    sitk.WriteImage(reference, str(tmp_path / "fixed.nii"))
    from_nifti = read_image(tmp_path / "fixed.nii")
    assert from_nifti.geometry.same_as(volume.geometry)
    np.testing.assert_array_equal(from_nifti.array, volume.array.astype(np.float32))
    assert labels.is_label and labels.array.dtype == np.uint8 and labels.shape == volume.shape
    assert labels.array.max() == 255 and len(np.unique(labels.array)) > 40


def test_npz_key_selects_array(voxelmorph_scan, shared_data: Path) -> None:
    _, labels = voxelmorph_scan
    seg = read_image(shared_data / "brain3d" / "test_scan.npz", key="seg")
    assert not seg.is_label
    np.testing.assert_array_equal(seg.array, labels.array)


def test_real_prostate_nifti_and_4d_labels(shared_data: Path) -> None:
    case = shared_data / "prostate_cohort" / "test"
    image = read_image(case / "fixed_images" / "case000025.nii.gz")
    assert image.shape == (41, 59, 44) and image.array.dtype == np.uint8
    np.testing.assert_allclose(image.spacing, [0.4] * 3, atol=1e-6)
    indices = corner_indices(image.shape)
    np.testing.assert_allclose(
        image.index_to_physical(indices),
        sitk_positions(case / "fixed_images" / "case000025.nii.gz", indices),
        atol=1e-5,
    )

    label_path = case / "fixed_labels" / "case000025.nii.gz"
    with pytest.raises(InvalidImageError) as error:
        read_image(label_path, is_label=True)
    assert_one_line_error(error, label_path, "4D", "3 volumes", "channel=")
    gland = read_image(label_path, is_label=True, channel=0)
    assert gland.shape == image.shape and gland.array.dtype == np.uint8
    assert set(np.unique(gland.array)) == {0, 1}
    with pytest.raises(InvalidImageError, match="out of range"):
        read_image(label_path, channel=3)


# ---- DICOM --------------------------------------------------------------------------------------
def test_dicom_series_folder() -> None:
    folder = DICOM_TESTS / "98892001" / "CT5N"
    image = read_image(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    reference = reader.Execute()
    assert image.shape == (5, 16, 16)
    np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(reference))
    assert image.geometry.same_as(Image.from_sitk(reference).geometry)


def test_dicom_parent_folder_takes_largest_series_and_says_which(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        image = read_image(DICOM_TESTS / "98892001")  # CT2N (2 files) and CT5N (5 files) in subfolders
    assert image.shape == (5, 16, 16)
    assert "2 DICOM series found" in caplog.text and "5 files" in caplog.text


def test_single_dicom_file() -> None:
    path = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    image = read_image(path)
    reference = sitk.ReadImage(str(path))
    assert image.shape == (1, 128, 128)  # a DICOM slice keeps its 3D position
    np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(reference))
    assert image.geometry.same_as(Image.from_sitk(reference).geometry)


def test_dicom_file_without_extension_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "IM0001"
    path.write_bytes(Path(pydicom.data.get_testdata_file("CT_small.dcm")).read_bytes())
    assert image_format_family(path) == "dicom"
    assert read_image(path).shape == (1, 128, 128)


# ---- colour -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retina_png(tmp_path_factory) -> tuple[Path, np.ndarray]:
    import skimage.data as skimage_data  # a hard dependency of RegViewer

    rgb = skimage_data.retina()[600:700, 600:728]  # a real fundus photo, cropped
    path = tmp_path_factory.mktemp("colour") / "retina.png"
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(rgb), isVector=True), str(path))
    return path, rgb


def test_rgb_picture_is_shown_in_colour_and_registered_on_luminance_with_notice(retina_png, caplog) -> None:
    path, rgb = retina_png
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        image = read_image(path)
    assert "retina.png" in caplog.text and "shown in colour, registered on the luminance" in caplog.text
    assert "grey" not in caplog.text  # the notice says what happens: the views show the colour
    assert image.colour is not None and np.array_equal(image.colour, rgb)
    assert image.shape == rgb.shape[:2] and image.array.dtype == np.float32
    np.testing.assert_allclose(image.array, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)


def test_rgb_volume_notice_says_read_as_luminance(tmp_path: Path, caplog) -> None:
    rgb = np.zeros((3, 8, 9, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = 200, np.arange(9, dtype=np.uint8) * 20
    path = tmp_path / "colour_volume.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    with caplog.at_level(logging.WARNING, logger="regviewer.io"):
        image = read_image(path)
    assert image.colour is None and image.shape == (3, 8, 9)
    assert "read as its luminance" in caplog.text and "shown in colour," not in caplog.text


def test_rgb_channel_picks_one_colour(retina_png) -> None:
    path, rgb = retina_png
    np.testing.assert_array_equal(read_image(path, channel=1).array, rgb[..., 1])


def test_rgb_label_map_is_refused(retina_png) -> None:
    path, _ = retina_png
    with pytest.raises(InvalidImageError) as error:
        read_image(path, is_label=True)
    assert_one_line_error(error, path, "colour", "label")


def test_grey_saved_as_rgba_is_kept_exactly(tmp_path: Path) -> None:
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    path = tmp_path / "grey.png"
    sitk.WriteImage(sitk.GetImageFromArray(rgba, isVector=True), str(path))
    image = read_image(path, is_label=True)
    np.testing.assert_array_equal(image.array, grey)


# ---- errors -------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError) as error:
        read_image(tmp_path / "nowhere.nii.gz")
    assert_one_line_error(error, tmp_path / "nowhere.nii.gz", "not found")


def test_unsupported_extension_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "notes.xyz"
    path.write_text("hello")
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    assert_one_line_error(error, path, "unsupported", ".nii.gz", ".mha", ".npz", "DICOM folder")


@pytest.mark.parametrize(
    "name", ["fake.nii.gz", "fake.nii", "fake.mha", "fake.nrrd", "fake.png", "fake.npz", "fake.dcm"]
)
def test_text_file_with_image_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is not an image\n" * 30)
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    assert_one_line_error(error, path)
    assert "cannot read" in str(error.value) or "not a" in str(error.value)


@pytest.mark.parametrize("name", ["cut.nii.gz", "cut.nii", "cut.mha", "cut.nrrd"])
def test_truncated_file(tmp_path: Path, name: str) -> None:
    path = write_image(oblique_image(3), tmp_path / name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RegViewerError) as error:
        read_image(path)
    assert isinstance(error.value, ImageReadError)
    assert_one_line_error(error, path)
    if name.endswith(".mha"):
        assert "truncated" in str(error.value)


def test_real_4d_epi_is_refused_then_read_by_channel() -> None:
    with pytest.raises(InvalidImageError) as error:
        read_image(EXAMPLE_4D)
    assert_one_line_error(error, EXAMPLE_4D, "4D", "channel=")
    assert read_image(EXAMPLE_4D, channel=1).shape == (24, 96, 128)


def test_4d_metaimage_is_refused_then_read_by_channel(tmp_path: Path) -> None:
    volumes = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)  # (t, z, y, x)
    path = tmp_path / "series.mha"
    sitk.WriteImage(sitk.GetImageFromArray(volumes, isVector=False), str(path))
    with pytest.raises(InvalidImageError) as error:
        read_image(path)
    assert_one_line_error(error, path, "4D", "2 volumes", "channel=")
    np.testing.assert_array_equal(read_image(path, channel=1).array, volumes[1])
    single = tmp_path / "single.mha"
    sitk.WriteImage(sitk.GetImageFromArray(volumes[:1], isVector=False), str(single))
    assert read_image(single).shape == (3, 4, 5)  # a singleton 4th dimension is dropped


def test_vector_image_is_refused(tmp_path: Path) -> None:
    field = sitk.GetImageFromArray(np.zeros((4, 5, 6, 3), np.float32), isVector=True)
    path = tmp_path / "field.mha"
    sitk.WriteImage(field, str(path))
    with pytest.raises(InvalidImageError) as error:
        read_image(path)
    assert_one_line_error(error, path, "vector", "3 components")


@pytest.mark.parametrize("extension", [".nii.gz", ".mha"])
def test_nan_and_inf_voxels_are_counted(tmp_path: Path, extension: str) -> None:
    array = np.zeros((3, 4, 5), np.float32)
    array[0, 0, :3] = np.nan
    array[1, 1, 1] = np.inf
    path = write_image(Image.from_array(array), tmp_path / f"holes{extension}")
    with pytest.raises(InvalidImageError) as error:
        read_image(path)
    assert_one_line_error(error, path, "4 of 60 voxels", "3 NaN", "1 Inf")


def test_nifti_zero_pixdim_is_refused(tmp_path: Path) -> None:
    nifti = nib.Nifti1Image(np.ones((4, 5, 6), np.float32), None)
    nifti.header["pixdim"][1:4] = [0.0, 1.0, 1.0]
    path = tmp_path / "flat.nii.gz"
    nib.save(nifti, str(path))
    with pytest.raises(InvalidImageError) as error:
        read_image(path)
    assert_one_line_error(error, path, "zero or negative voxel size")


@pytest.mark.parametrize("bad", ["0 1 1", "-1 1 1"])
def test_metaimage_zero_or_negative_spacing_is_refused(tmp_path: Path, bad: str) -> None:
    path = write_image(oblique_image(3), tmp_path / "good.mha")
    data = path.read_bytes()
    start = data.index(b"ElementSpacing")
    end = data.index(b"\n", start)
    broken = tmp_path / "bad.mha"
    broken.write_bytes(data[:start] + f"ElementSpacing = {bad}".encode() + data[end:])
    with pytest.raises(InvalidImageError) as error:
        read_image(broken)
    assert_one_line_error(error, broken, "zero or negative", "ElementSpacing")


@pytest.mark.parametrize(
    ("geometry_line", "fragment"),
    [("spacings: 0 1 1", "zero or negative spacings"), ("space directions: (0,0,0) (0,1,0) (0,0,1)", "zero-length")],
)
def test_nrrd_zero_spacing_is_refused(tmp_path: Path, geometry_line: str, fragment: str) -> None:
    path = tmp_path / "bad.nrrd"
    header = f"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\n{geometry_line}\nencoding: raw\nendian: little\n\n"
    path.write_bytes(header.encode() + np.zeros(8, "<f4").tobytes())
    with pytest.raises(InvalidImageError) as error:
        read_image(path)
    assert_one_line_error(error, path, fragment)


def test_npz_without_the_key_lists_its_keys(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "brain3d" / "labels.npz"
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    assert_one_line_error(error, path, "'vol'", "it has: labels", "key=")
    with pytest.raises(ImageReadError, match="'seg'"):
        read_image(path, is_label=True)


def test_non_integer_labels_are_refused(tmp_path: Path) -> None:
    path = write_image(Image.from_array(np.full((3, 4, 5), 0.5, np.float32)), tmp_path / "soft.nii.gz")
    with pytest.raises(InvalidImageError) as error:
        read_image(path, is_label=True)
    assert_one_line_error(error, path, "non-integer")


def test_empty_folder_is_not_a_dicom_series(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError) as error:
        read_image(tmp_path)
    assert_one_line_error(error, tmp_path, "no DICOM series")


def test_key_only_for_npz(shared_data: Path) -> None:
    with pytest.raises(ImageReadError, match="npz"):
        read_image(shared_data / "brain2d" / "r16slice.jpg", key="vol")


def test_write_errors(tmp_path: Path) -> None:
    floats = Image.from_array(np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5))
    with pytest.raises(ImageWriteError, match="DICOM"):
        write_image(floats, tmp_path / "out.dcm")
    with pytest.raises(ImageWriteError, match="unsupported extension"):
        write_image(floats, tmp_path / "out.xyz")
    with pytest.raises(ImageWriteError, match=r"\.tif"):
        write_image(floats, tmp_path / "out.png")  # PNG cannot hold 0.25
    with pytest.raises(ImageWriteError, match="3D"):
        write_image(Image.from_array(np.zeros((2, 3, 4), np.uint8)), tmp_path / "out.png")


def test_no_raw_exception_escapes_for_a_directory_named_like_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "looks.nii.gz"
    folder.mkdir()
    with pytest.raises(ImageReadError):
        read_image(folder)


# ---- format families ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "family", "extension"),
    [
        ("a.nii.gz", "nifti", ".nii.gz"),
        ("a.NII", "nifti", ".nii"),
        ("a.nhdr", "nrrd", ".nrrd"),
        ("a.mhd", "mha", ".mha"),
        ("a.dcm", "dicom", ".nii.gz"),
        ("a.jpg", "jpeg", ".tif"),
        ("a.png", "png", ".tif"),
        ("a.tiff", "tiff", ".tif"),
        ("a.npz", "npz", ".npz"),
    ],
)
def test_format_family_and_output_extension(name: str, family: str, extension: str) -> None:
    assert image_format_family(name) == family
    assert default_extension(name) == extension
    assert extension in WRITABLE_IMAGE_EXTENSIONS


def test_dicom_folder_family_and_extension_lists() -> None:
    assert image_format_family(DICOM_TESTS) == "dicom"
    assert default_extension(DICOM_TESTS) == ".nii.gz"
    assert ".dcm" in SUPPORTED_IMAGE_EXTENSIONS and ".dcm" not in WRITABLE_IMAGE_EXTENSIONS
    with pytest.raises(ImageReadError, match="unsupported"):
        image_format_family("notes.txt")


def test_gzipped_garbage_named_nii_gz(tmp_path: Path) -> None:
    """A gzip of garbage named .nii.gz is refused as not-NIfTI (not a raw nibabel error)."""
    path = tmp_path / "garbage.nii.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(os.urandom(1000))
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    assert_one_line_error(error, path, "NIfTI")
