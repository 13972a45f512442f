"""Reading and writing images: the single entry point of every image file into RegViewer.

``read_image`` returns an :class:`~regviewer.core.image.Image` in LPS millimetres with its array in
(z, y, x) order, whatever the format; ``write_image`` writes one back. Orientation is converted
here and only here (NIfTI RAS <-> LPS in ``nifti.py``; ITK formats are LPS already).

Formats (see ``formats.py`` for extensions and output-format rules):

- nifti: .nii, .nii.gz via nibabel; written with sform and qform (code 1).
- nrrd, mha: .nrrd, .nhdr, .mha, .mhd via SimpleITK; written compressed.
- dicom: a folder (its largest series) or a .dcm file; not written (use .nii.gz).
- png, jpeg, tiff: pictures read with 1 mm pixels; PNG writes 8/16-bit integers, JPEG 8-bit
  (lossy), TIFF uint8..int32 and float32 (2D or multi-page 3D).
- npz: VoxelMorph ``vol`` / ``seg`` arrays in (x, y, z) order; labels are written as ``seg``.

Dimensions: 2D files give (y, x) images with 2D geometry; a 3D file with one slice stays 3D
(1, y, x) (a DICOM file is 3D too: its plane sits in patient space); trailing singleton dimensions
beyond the third are dropped (NIfTI (x, y, z, 1) is 3D). A real 4D or vector file is refused unless
``channel=k`` picks one volume / component (colour pictures: ``channel=1`` is the green channel).
Colour (RGB/RGBA) 2D pictures keep their RGB pixels in ``image.colour`` (shown in colour) while
``image.array`` is the luminance they are registered on (another channel: ``channel=k``, or
``regviewer.core.colour.registration_channel``); a logged notice says so. Colour volumes are read
as their luminance, with a notice too.

Every failure raises ``ImageReadError`` (cannot read) or ``InvalidImageError`` (read, but unusable)
with one line "<path>: <reason>"; no nibabel / SimpleITK / OS exception escapes ``read_image``.
Writing failures raise ``ImageWriteError``.
"""

from __future__ import annotations

import os
from pathlib import Path

from regviewer.core.errors import ImageReadError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io._common import ImageWriteError, check_finite, one_line, short_reason, to_label_array
from regviewer.core.io.atomic import atomic_path
from regviewer.core.io.file_checks import check_regular_file
from regviewer.core.io.formats import (
    FAMILY_BY_EXTENSION,
    SUPPORTED_IMAGE_EXTENSIONS,
    WRITABLE_IMAGE_EXTENSIONS,
    default_extension,
    extension_of,
    image_format_family,
)
from regviewer.core.io.itk_formats import read_with_itk, write_with_itk
from regviewer.core.io.nifti import read_nifti, write_nifti
from regviewer.core.io.npz import INTENSITY_KEY, LABEL_KEY, read_npz, write_npz
from regviewer.core.io.plugins import read_with_plugin, reader_for, write_with_plugin, writer_for
from regviewer.core.io.pre_read import check_before_reading

__all__ = [
    "SUPPORTED_IMAGE_EXTENSIONS",
    "WRITABLE_IMAGE_EXTENSIONS",
    "ImageWriteError",
    "default_extension",
    "image_format_family",
    "read_image",
    "write_image",
]


def _read_any(path: Path, family: str, is_label: bool, key: str | None, channel: int | None) -> Image:
    if key is not None and family != "npz":
        raise ImageReadError(f"key='{key}' applies to .npz archives only")
    if family == "npz":
        return read_npz(path, key=key, is_label=is_label, channel=channel)
    if family == "nifti":
        return read_nifti(path, channel=channel, is_label=is_label)
    return read_with_itk(path, family, channel=channel, is_label=is_label)


def read_image(
    path: str | os.PathLike[str],
    *,
    is_label: bool = False,
    key: str | None = None,
    channel: int | None = None,
) -> Image:
    """Read an image file (or a DICOM folder) into an LPS :class:`Image`.

    Args:
        path: the file, or a folder holding a DICOM series.
        is_label: read a label map: values must be integers (floats holding integers are rounded
            to the smallest integer dtype that holds them); colours are never blended.
        key: for .npz archives, the array to read (default ``seg`` when ``is_label``, else ``vol``).
        channel: for a 4D file, the volume to read; for a vector or colour file, the component.

    Returns:
        The image, named after the file (``name.npz:key`` for archives).

    Raises:
        ImageReadError: missing or unreadable file, unsupported format, missing .npz key.
        InvalidImageError: 4D / vector data without ``channel``, NaN or Inf voxels, zero or negative
            spacing, non-integer labels.
    """
    path = Path(path).expanduser()
    check_regular_file(path, allow_folder=True)
    if (plugin := reader_for(path)) is not None:  # formats added by plugins (core/io/plugins.py)
        return read_with_plugin(plugin, path, is_label=is_label, channel=channel)
    family = image_format_family(path)
    try:
        check_before_reading(path, family, key or (LABEL_KEY if is_label else INTENSITY_KEY))
        image = _read_any(path, family, is_label, key, channel)
        check_finite(image.array)
        if is_label:
            image = image.with_array(to_label_array(image.array), is_label=True)
    except RegViewerError as error:
        raise type(error)(one_line(f"{path}: {error}")) from error
    except MemoryError as error:
        raise ImageReadError(f"{path}: not enough memory to read this image") from error
    except Exception as error:  # nibabel, SimpleITK, zlib, numpy, OS: never let them escape raw
        raise ImageReadError(f"{path}: cannot read as {family} ({short_reason(error)})") from error
    return image


def write_image(image: Image, path: str | os.PathLike[str]) -> Path:
    """Write ``image`` in the format given by the extension of ``path``.

    Geometry is kept exactly by NIfTI, NRRD and MetaImage; pictures and .npz keep none (a notice is
    logged when the geometry was not 1 mm / origin 0 / identity). Missing parent folders are created.

    Args:
        image: the image to write.
        path: destination; its extension picks the format (one of ``WRITABLE_IMAGE_EXTENSIONS``).

    Returns:
        The path written.

    Raises:
        ImageWriteError: unsupported extension (DICOM included), values the format cannot hold
            (e.g. float in PNG), or an OS error.
    """
    path = Path(path).expanduser()
    if (plugin := writer_for(path)) is not None:  # formats added by plugins (core/io/plugins.py)
        return write_with_plugin(plugin, image, path)
    family = FAMILY_BY_EXTENSION.get(extension_of(path))
    if family is None or family == "dicom":
        reason = (
            "writing DICOM is not supported" if family == "dicom" else f"unsupported extension '{extension_of(path)}'"
        )
        raise ImageWriteError(f"{path}: {reason}; write one of: {', '.join(WRITABLE_IMAGE_EXTENSIONS)}")
    with atomic_path(path) as temporary:  # complete under its final name, or not there at all
        try:
            if family == "nifti":
                write_nifti(image, temporary)
            elif family == "npz":
                write_npz(image, temporary)
            else:
                write_with_itk(image, temporary, family)
        except (OSError, ImageWriteError) as error:
            if isinstance(error, OSError):
                raise  # atomic_path names the file and the reason (a full disk included)
            raise ImageWriteError(one_line(f"{path}: {error}")) from error
        except RegViewerError as error:
            raise ImageWriteError(one_line(f"{path}: {error}")) from error
        except Exception as error:  # ITK reports a full disk as a RuntimeError
            if "No space left" in str(error):
                raise ImageWriteError(f"{path}: the disk is full; nothing was written under this name") from error
            raise ImageWriteError(f"{path}: cannot write ({short_reason(error)})") from error
    return path
