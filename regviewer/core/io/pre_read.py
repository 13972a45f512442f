"""The checks ``read_image`` makes before a reader allocates anything (see ``file_checks.py``).

Per format: the header's claim (dimensions, bytes per voxel, bytes present) is checked against the
file and the available memory; compressed MetaImage and gzip NRRD data are decoded once in chunks
to count their bytes (their readers silently fill missing data with zeros); PNG and JPEG pictures
are decoded fully by Pillow, which refuses a truncated file where ITK fills in black.
"""

from __future__ import annotations

from pathlib import Path

from regviewer.core.io.file_checks import check_claim, check_decoded_length, check_memory
from regviewer.core.io.header_sizes import (
    check_picture_complete,
    gzip_size_hint,
    metaimage_claim,
    metaimage_fields,
    nifti_claim,
    npz_claim,
    nrrd_claim,
    nrrd_data_offset,
    picture_claim,
)


def check_before_reading(path: Path, family: str, npz_key: str) -> None:
    """Refuse truncated data, impossible dimensions and images that would not fit in memory.

    Raises:
        ImageReadError: with the reason (the caller prefixes the path).
    """
    if path.is_dir():
        return
    if family == "nifti":
        claim = nifti_claim(path)
        check_claim(claim)
        if claim.encoding == "deflate":
            expected = claim.header_bytes + claim.data_bytes
            # gzip records the decoded size (mod 2**32) at its end: decode to count only when it disagrees
            # (a truncated stream, or several gzip members), so an intact file costs no second decoding.
            if gzip_size_hint(path) != expected % 2**32:
                check_decoded_length(path, 0, expected)
    elif family == "nrrd":
        claim = nrrd_claim(path)
        if claim is not None:
            check_claim(claim)
            located = nrrd_data_offset(path)
            if located is not None:
                check_decoded_length(located[0], located[1], claim.data_bytes)
    elif family == "mha":
        claim = metaimage_claim(path)
        if claim is not None:
            check_claim(claim)
            fields, offset = metaimage_fields(path)
            if claim.encoding == "deflate" and fields.get("ElementDataFile", "").upper() == "LOCAL":
                check_decoded_length(path, offset, claim.data_bytes)
    elif family in ("png", "jpeg", "tiff"):
        claim = picture_claim(path)
        if claim is not None:
            check_memory(claim.shape, claim.item_bytes)
        if family in ("png", "jpeg"):
            check_picture_complete(path, family)
    elif family == "dicom":
        from regviewer.core.errors import ImageReadError
        from regviewer.core.io.dicom import pixel_data_problem

        problem = pixel_data_problem(path)
        if problem:
            raise ImageReadError(f"broken DICOM file: {problem}")
    elif family == "npz":
        claim = npz_claim(path, npz_key)
        if claim is not None:
            check_claim(claim)
