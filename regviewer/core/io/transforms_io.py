"""Transform files: ITK .tfm / .txt / .h5 (read and write) and displacement-field images.

ITK transform files store the fixed -> moving map, which is RegViewer's convention, so nothing is
inverted here. Displacement fields are vector images of mm offsets in LPS on the fixed grid
(ITK / ANTs convention), written as NIfTI (.nii.gz), MHA or NRRD.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from regviewer.core.errors import ImageReadError, InputMismatchError, InvalidImageError, RegViewerError
from regviewer.core.io._common import quiet_itk, short_reason
from regviewer.core.io.atomic import atomic_path
from regviewer.core.io.elastix_params import looks_like_elastix, read_elastix_transform
from regviewer.core.io.file_checks import check_regular_file
from regviewer.core.io.formats import extension_of
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import (
    CompositeTransform,
    DisplacementFieldTransform,
    Transform,
    check_transform,
    transform_from_sitk,
)

TRANSFORM_EXTENSIONS = (".tfm", ".txt", ".h5", ".hdf5", ".mat")
FIELD_EXTENSIONS = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr")


def _has_field(transform: Transform) -> bool:
    parts = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    # a thin-plate spline is written as affine + displacement field (ThinPlateSplineTransform.to_sitk)
    return any(isinstance(part, (DisplacementFieldTransform, ThinPlateSplineTransform)) for part in parts)


def write_transform(transform: Transform, path: str | Path) -> Path:
    """Write ``transform`` (fixed -> moving) as an ITK transform file.

    Linear transforms fit any ITK format; a transform holding a displacement field needs HDF5 (.h5).
    """
    path = Path(path)
    suffix = extension_of(path)
    if suffix not in TRANSFORM_EXTENSIONS:
        raise InputMismatchError(f"{path}: transform files end in {', '.join(TRANSFORM_EXTENSIONS)}")
    if _has_field(transform) and suffix not in (".h5", ".hdf5"):
        raise InputMismatchError(f"{path}: a transform with a displacement field must be written as .h5")
    with atomic_path(path) as temporary:
        sitk.WriteTransform(transform.to_sitk(), str(temporary))
    return path


def read_transform(path: str | Path) -> Transform:
    """Read an ITK transform file, or a displacement-field image, as a fixed -> moving transform."""
    path = Path(path).expanduser()
    check_regular_file(path)
    if extension_of(path) in FIELD_EXTENSIONS:
        return read_displacement_field(path)
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file, not a transform")
    if looks_like_elastix(path):  # elastix TransformParameters (core/io/elastix_params.py)
        elastix = read_elastix_transform(path)
        try:
            check_transform(elastix)
        except (InputMismatchError, InvalidImageError) as error:
            raise ImageReadError(f"{path}: {error}") from None
        return elastix
    if extension_of(path) in (".h5", ".hdf5"):
        _check_itk_hdf5(path)
    elif extension_of(path) in (".tfm", ".txt"):
        _check_text_parameters(path)
    try:
        with quiet_itk():
            transform = sitk.ReadTransform(str(path))
    except RuntimeError as error:
        raise ImageReadError(f"{path}: not a readable ITK transform file ({short_reason(error)[:160]})") from None
    try:
        result = transform_from_sitk(transform)
        check_transform(result)
    except (InputMismatchError, InvalidImageError) as error:
        raise ImageReadError(f"{path}: {error}") from None
    return result


def _check_text_parameters(path: Path) -> None:
    """Refuse NaN / Inf parameters in a text transform file (ITK stops parsing at them and reports a count)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20).decode("latin-1")
    for line in head.splitlines():
        key, _, values = line.partition(":")
        if key.strip() in ("Parameters", "FixedParameters") and any(
            word.lower().lstrip("+-") in ("nan", "inf", "infinity") for word in values.split()
        ):
            raise ImageReadError(f"{path}: the transform's {key.strip()} hold NaN or Inf")


def _check_itk_hdf5(path: Path) -> None:
    """Refuse an HDF5 file that holds no ITK transform (ITK's reader gives a cryptic error for it)."""
    try:
        import h5py
    except ImportError:  # pragma: no cover (h5py is a dependency)
        return
    try:
        with h5py.File(path, "r") as handle:
            if "TransformGroup" not in handle:
                names = ", ".join(list(handle.keys())[:5]) or "nothing"
                raise ImageReadError(
                    f"{path}: an HDF5 file without an ITK transform (no TransformGroup; it holds {names})"
                )
    except OSError:
        raise ImageReadError(f"{path}: not an HDF5 file (ITK .h5 transforms are HDF5)") from None


def write_displacement_field(field: DisplacementFieldTransform, path: str | Path) -> Path:
    """Write the field as a vector image (mm, LPS, fixed grid)."""
    path = Path(path)
    if extension_of(path) not in FIELD_EXTENSIONS:
        raise InputMismatchError(f"{path}: displacement fields are written as {', '.join(FIELD_EXTENSIONS)}")
    image = sitk.Cast(field.to_sitk_image(), sitk.sitkVectorFloat32)
    with atomic_path(path) as temporary:
        sitk.WriteImage(
            image, str(temporary), useCompression=True, compressionLevel=1
        )  # fast; float fields barely compress
    return path


def read_displacement_field(path: str | Path) -> DisplacementFieldTransform:
    """Read a vector image of displacements (one component per dimension) as a transform."""
    path = Path(path).expanduser()
    check_regular_file(path)
    try:
        from regviewer.core.io.formats import image_format_family
        from regviewer.core.io.pre_read import check_before_reading

        check_before_reading(path, image_format_family(path), "vol")
    except RegViewerError as error:
        raise ImageReadError(f"{path}: {error}") from None
    try:
        with quiet_itk():
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ImageReadError(f"{path}: not a readable displacement-field image ({short_reason(error)[:160]})") from None
    if image.GetNumberOfComponentsPerPixel() != image.GetDimension():
        raise ImageReadError(
            f"{path}: a displacement field needs {image.GetDimension()} components per voxel, "
            f"found {image.GetNumberOfComponentsPerPixel()}"
        )
    try:
        field = DisplacementFieldTransform.from_sitk_image(image)
        check_transform(field)
    except RegViewerError as error:
        raise ImageReadError(f"{path}: {error}") from None
    return field
