"""Formats read and written through SimpleITK: NRRD, MetaImage, DICOM, PNG / JPEG / TIFF.

ITK already reports these in LPS (NRRD in RAS space is converted by ITK's reader), so the geometry
is taken as is. Pictures (PNG, JPEG, TIFF) carry no anatomy: they are read with 1 mm pixels, origin 0
and identity direction whatever resolution tag (dpi) the file has, since such tags describe print
size: honouring them would give two slices of one study different pixel sizes only because they
were saved at 72 and 96 dpi.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from regviewer.core.colour import picture_colour
from regviewer.core.errors import ImageReadError, InvalidImageError
from regviewer.core.image import Geometry, Image
from regviewer.core.io._common import (
    ImageWriteError,
    check_channel_unused,
    colour_to_grey,
    is_rgb_like,
    logger,
    portable_array,
    quiet_itk,
    select_channel,
)
from regviewer.core.io.dicom import read_dicom_series
from regviewer.core.io.formats import RASTER_FAMILIES
from regviewer.core.io.headers import check_metaimage_header, check_nrrd_header

_TIFF_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32)}


def _read_file(path: Path, family: str) -> sitk.Image:
    if family == "mha":
        check_metaimage_header(path)
    elif family == "nrrd":
        check_nrrd_header(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet_itk():
            return reader.Execute()
    except RuntimeError as error:
        if "Zero-valued spacing" in str(error):
            raise InvalidImageError("zero voxel spacing in the header") from error
        if "Unable to determine ImageIO reader" in str(error):
            raise ImageReadError(f"not a readable {family.upper()} file: its content is not recognised") from error
        raise


def _array_and_geometry(
    image: sitk.Image, channel: int | None, source: str, raster: bool, is_label: bool
) -> tuple[np.ndarray, Geometry]:
    """numpy (z, y, x) array and 2D/3D geometry of a SimpleITK image; 4D and vectors resolved."""
    ndim = image.GetDimension()
    components = image.GetNumberOfComponentsPerPixel()
    array = sitk.GetArrayFromImage(image)  # (t, z, y, x[, c])
    spacing = np.array(image.GetSpacing())
    origin = np.array(image.GetOrigin())
    direction = np.array(image.GetDirection()).reshape(ndim, ndim)
    if components > 1:
        if channel is not None:
            array, channel = select_channel(array, channel, components, "component"), None
        elif is_rgb_like(components, array.dtype, allow_grey_alpha=raster):
            # read_with_itk keeps the RGB of 2D pictures for display (picture_colour)
            shown = raster and not is_label and ndim == 2 and components in (3, 4)
            array = colour_to_grey(array, source, is_label, shown_in_colour=shown)
        else:
            raise InvalidImageError(
                f"vector image with {components} components per voxel ({image.GetPixelIDTypeAsString()}); "
                "RegViewer reads scalar images: pick one with channel=k, or load a displacement field as a transform"
            )
    if ndim == 4:
        count = array.shape[0]
        if count > 1 and channel is None:
            raise InvalidImageError(
                f"4D image ({count} volumes of {'x'.join(map(str, image.GetSize()[:3]))}): RegViewer reads 2D "
                f"or 3D images; pick one volume with channel=k (0..{count - 1})"
            )
        array = select_channel(np.moveaxis(array, 0, -1), channel or 0, count, "volume")
        spacing, origin, direction, channel = spacing[:3], origin[:3], direction[:3, :3], None
    elif ndim > 4:
        raise InvalidImageError(f"{ndim}D image is not supported")
    check_channel_unused(channel)
    if raster:
        if not np.allclose(spacing, 1.0, atol=1e-6):
            logger.info(
                "%s: resolution tag (%s mm) ignored: pictures are read with 1 mm pixels",
                source,
                ", ".join(f"{v:.4g}" for v in spacing),
            )
        spacing, origin, direction = np.ones(array.ndim), np.zeros(array.ndim), np.eye(array.ndim)
    return array, Geometry(shape=array.shape, spacing=spacing, origin=origin, direction=direction)


def read_with_itk(path: Path, family: str, *, channel: int | None = None, is_label: bool = False) -> Image:
    """Read a NRRD, MetaImage, DICOM (file or series folder) or picture file.

    Args:
        path: the file, or a folder holding a DICOM series.
        family: its format family (see ``formats.image_format_family``).
        channel: component of a vector/colour image, or volume of a 4D image.
        is_label: refuse blending the colours of a label map.
    """
    if family == "dicom" and path.is_dir():
        image = read_dicom_series(path)
    else:
        image = _read_file(path, family)
    array, geometry = _array_and_geometry(image, channel, str(path), family in RASTER_FAMILIES, is_label)
    colour = (
        picture_colour(sitk.GetArrayFromImage(image))
        if family in RASTER_FAMILIES and not is_label and array.ndim == 2
        else None
    )
    return Image(np.ascontiguousarray(array), geometry, name=path.name, is_label=is_label, colour=colour)


# ---- writing ------------------------------------------------------------------------------------
def _integer_pixels(array: np.ndarray, high: int, what: str) -> np.ndarray:
    """``array`` as uint8 (high 255) or uint8/uint16 (high 65535) when its values allow it exactly."""
    if array.size and np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array):
        low_value, high_value = float(np.min(array)), float(np.max(array))
        integral = np.issubdtype(array.dtype, np.integer) or bool(np.all(np.mod(array, 1) == 0))
        if integral and low_value >= 0 and high_value <= high:
            return array.astype(np.uint8 if high_value <= 255 else np.uint16)
        raise ImageWriteError(
            f"{what} holds integers 0..{high}; this image is {array.dtype} with values "
            f"{low_value:.6g}..{high_value:.6g}: write .tif (32-bit float) or .nii.gz instead"
        )
    return array.astype(np.uint8)


def _raster_array(image: Image, family: str) -> np.ndarray:
    array = portable_array(image.array)
    if family in ("png", "jpeg") and array.ndim == 3:
        if array.shape[0] != 1:
            raise ImageWriteError(
                f"{family.upper()} holds 2D pictures; this image is 3D {array.shape}: write .tif or .nii.gz"
            )
        array = array[0]
    geometry = image.geometry
    if not (
        np.allclose(geometry.spacing, 1)
        and np.allclose(geometry.origin, 0)
        and np.allclose(geometry.direction, np.eye(geometry.ndim))
    ):
        logger.warning(
            "%s files keep no geometry: spacing, origin and direction are dropped (%s)",
            family.upper(),
            geometry.describe(),
        )
    if family == "png":
        return _integer_pixels(array, 65535, "PNG")
    if family == "jpeg":
        logger.warning("JPEG is lossy: the values written are not exactly the image's; prefer .png or .tif")
        return _integer_pixels(array, 255, "JPEG")
    if array.dtype in _TIFF_DTYPES:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    raise ImageWriteError(f"TIFF cannot hold {array.dtype} values: write .nii.gz, .nrrd or .mha instead")


def write_with_itk(image: Image, path: str | os.PathLike[str], family: str) -> None:
    """Write NRRD / MetaImage (compressed, full geometry) or a PNG / JPEG / TIFF picture."""
    if family in RASTER_FAMILIES:
        sitk_image = sitk.GetImageFromArray(np.ascontiguousarray(_raster_array(image, family)))
    else:
        sitk_image = sitk.GetImageFromArray(np.ascontiguousarray(portable_array(image.array)))
        image.geometry.apply_to_sitk(sitk_image)
    with quiet_itk():
        sitk.WriteImage(sitk_image, str(path), useCompression=family in ("nrrd", "mha"))
