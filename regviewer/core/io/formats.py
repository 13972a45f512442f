"""Image file formats: extensions, format families, and which extension outputs should get.

A *format family* groups extensions holding the same kind of data ("nifti" for .nii and .nii.gz,
"mha" for .mha and .mhd ...). The CLI writes its outputs in the family of the input; for
``default_extension`` the rules are:

- NIfTI keeps its own extension (.nii stays .nii, .nii.gz stays .nii.gz).
- NRRD and MetaImage become the single-file form (.nrrd, .mha): no detached data file to lose.
- A DICOM series (a folder) or a DICOM file becomes .nii.gz: RegViewer does not write DICOM.
- PNG, JPEG and TIFF pictures become .tif: a warped picture holds interpolated floating-point
  values that PNG (8/16-bit integers) and JPEG (8-bit, lossy) cannot store, while 32-bit float TIFF
  keeps them exactly and opens in Fiji/ImageJ, napari and ITK. Pictures carry no geometry anyway.
- VoxelMorph .npz stays .npz.
"""

from __future__ import annotations

import os
from pathlib import Path

from regviewer.core.errors import ImageReadError

#: extension -> format family, for every extension ``read_image`` accepts (a folder is a DICOM series).
FAMILY_BY_EXTENSION: dict[str, str] = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mha",
    ".dcm": "dicom",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".npz": "npz",
}

#: Extensions ``read_image`` accepts; a folder path is read as a DICOM series.
SUPPORTED_IMAGE_EXTENSIONS: tuple[str, ...] = tuple(FAMILY_BY_EXTENSION)

#: Extensions ``write_image`` accepts (everything readable except DICOM).
WRITABLE_IMAGE_EXTENSIONS: tuple[str, ...] = tuple(e for e, f in FAMILY_BY_EXTENSION.items() if f != "dicom")

#: 2D picture formats: no geometry, read with 1 mm pixels.
RASTER_FAMILIES = frozenset({"png", "jpeg", "tiff"})

_OUTPUT_EXTENSION_BY_FAMILY = {
    "nrrd": ".nrrd",
    "mha": ".mha",
    "dicom": ".nii.gz",
    "png": ".tif",
    "jpeg": ".tif",
    "tiff": ".tif",
    "npz": ".npz",
}


def extension_of(path: str | os.PathLike[str]) -> str:
    """Lower-case extension, with the double ``.nii.gz`` recognised; "" when there is none."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def supported_list() -> str:
    """The supported extensions as one human-readable phrase."""
    return ", ".join(SUPPORTED_IMAGE_EXTENSIONS) + " or a DICOM folder"


def looks_like_dicom(path: Path) -> bool:
    """True for a file with the DICOM "DICM" signature at byte 128 (files without an extension)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def image_format_family(path: str | os.PathLike[str]) -> str:
    """The format family of an image path.

    Args:
        path: a file path, or a folder (a DICOM series).

    Returns:
        One of "nifti", "nrrd", "mha", "dicom", "png", "jpeg", "tiff", "npz".

    Raises:
        ImageReadError: the extension is not supported (the message lists the supported ones).
    """
    path = Path(path)
    if path.is_dir():
        return "dicom"
    extension = extension_of(path)
    family = FAMILY_BY_EXTENSION.get(extension)
    if family is not None:
        return family
    if path.is_file() and looks_like_dicom(path):
        return "dicom"
    shown = f"'{extension}'" if extension else "(no extension)"
    raise ImageReadError(f"{path}: unsupported image format {shown}; supported: {supported_list()}")


def default_extension(path: str | os.PathLike[str]) -> str:
    """Extension for outputs derived from the image at ``path`` (same family; see the module notes).

    Examples: ``scan.nii.gz`` -> ".nii.gz", ``scan.mhd`` -> ".mha", a DICOM folder -> ".nii.gz",
    ``slice.jpg`` -> ".tif".

    Raises:
        ImageReadError: the extension is not supported.
    """
    family = image_format_family(path)
    if family == "nifti":
        return extension_of(path) if extension_of(path) in (".nii", ".nii.gz") else ".nii.gz"
    return _OUTPUT_EXTENSION_BY_FAMILY[family]
