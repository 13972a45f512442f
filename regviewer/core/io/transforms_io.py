"""Transform files: ITK .tfm / .txt / .h5 (read and write) and displacement-field images.

ITK transform files store the fixed -> moving map, which is RegViewer's convention, so nothing is
inverted here. Displacement fields are vector images of mm offsets in LPS on the fixed grid
(ITK / ANTs convention), written as NIfTI (.nii.gz), MHA or NRRD.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from regviewer.core.errors import ImageReadError, InputMismatchError
from regviewer.core.io.elastix_params import looks_like_elastix, read_elastix_transform
from regviewer.core.io.formats import extension_of
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import (
    CompositeTransform,
    DisplacementFieldTransform,
    Transform,
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
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteTransform(transform.to_sitk(), str(path))
    return path


def read_transform(path: str | Path) -> Transform:
    """Read an ITK transform file, or a displacement-field image, as a fixed -> moving transform."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if extension_of(path) in FIELD_EXTENSIONS:
        return read_displacement_field(path)
    if looks_like_elastix(path):
        return read_elastix_transform(path)
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise ImageReadError(f"{path}: not a readable ITK transform file ({reason[:160]})") from None
    try:
        return transform_from_sitk(transform)
    except InputMismatchError as error:
        raise ImageReadError(f"{path}: {error}") from None


def write_displacement_field(field: DisplacementFieldTransform, path: str | Path) -> Path:
    """Write the field as a vector image (mm, LPS, fixed grid)."""
    path = Path(path)
    if extension_of(path) not in FIELD_EXTENSIONS:
        raise InputMismatchError(f"{path}: displacement fields are written as {', '.join(FIELD_EXTENSIONS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.Cast(field.to_sitk_image(), sitk.sitkVectorFloat32)
    sitk.WriteImage(image, str(path), useCompression=True, compressionLevel=1)  # fast; float fields barely compress
    return path


def read_displacement_field(path: str | Path) -> DisplacementFieldTransform:
    """Read a vector image of displacements (one component per dimension) as a transform."""
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise ImageReadError(f"{path}: not a readable displacement-field image") from None
    if image.GetNumberOfComponentsPerPixel() != image.GetDimension():
        raise ImageReadError(
            f"{path}: a displacement field needs {image.GetDimension()} components per voxel, "
            f"found {image.GetNumberOfComponentsPerPixel()}"
        )
    return DisplacementFieldTransform.from_sitk_image(image)
