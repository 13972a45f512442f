"""Every reader and writer of RegViewer, and the ONLY place where orientation is converted.

Images: ``read_image`` / ``write_image`` (NIfTI, NRRD, MetaImage, DICOM, PNG/JPEG/TIFF, VoxelMorph npz).
Add further readers (transforms, landmarks) as one import line each, and their names to ``__all__``.
"""

from regviewer.core.io.images import (
    SUPPORTED_IMAGE_EXTENSIONS,
    WRITABLE_IMAGE_EXTENSIONS,
    ImageWriteError,
    default_extension,
    image_format_family,
    read_image,
    write_image,
)

__all__ = [
    "SUPPORTED_IMAGE_EXTENSIONS",
    "WRITABLE_IMAGE_EXTENSIONS",
    "ImageWriteError",
    "default_extension",
    "image_format_family",
    "read_image",
    "write_image",
]
