"""Checks of MetaImage (.mha / .mhd) and NRRD text headers made before ITK reads the data.

ITK accepts a negative MetaImage ElementSpacing silently, reports a truncated .mha with a misleading
"No such file or directory" and buries a zero NRRD spacing in a long teem trace; reading the text
header first gives users the real reason in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError, InvalidImageError

_BYTES_PER_ELEMENT = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
_DATA_FILE = b"ElementDataFile"


def _fields(header: str) -> dict[str, str]:
    fields = {}
    for line in header.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            fields[key.strip()] = value.strip()
    return fields


def check_metaimage_header(path: Path) -> None:
    """Refuse zero or negative ElementSpacing, and a local data block shorter than the header promises.

    Raises:
        InvalidImageError: zero or negative spacing.
        ImageReadError: truncated data.
    """
    with open(path, "rb") as handle:
        head = handle.read(65536)
        file_size = handle.seek(0, 2)
    if _DATA_FILE not in head:
        return  # not a MetaImage header: ITK will say so
    data_line_start = head.index(_DATA_FILE)
    data_line_end = head.find(b"\n", data_line_start)
    fields = _fields(head[: data_line_end if data_line_end >= 0 else len(head)].decode("latin-1"))
    spacing_text = fields.get("ElementSpacing", "")
    try:
        spacing = [float(v) for v in spacing_text.split()]
    except ValueError:
        spacing = []
    if any(not np.isfinite(v) or v <= 0 for v in spacing):
        raise InvalidImageError(f"zero or negative ElementSpacing in the header ({spacing_text})")
    if fields.get(_DATA_FILE.decode(), "").upper() != "LOCAL" or data_line_end < 0:
        return
    available = file_size - (data_line_end + 1)
    try:
        if fields.get("CompressedData", "False").lower() == "true":
            expected = int(fields["CompressedDataSize"])
        else:
            voxels = int(np.prod([int(v) for v in fields["DimSize"].split()]))
            channels = int(fields.get("ElementNumberOfChannels", "1"))
            expected = voxels * channels * _BYTES_PER_ELEMENT[fields["ElementType"].upper()]
    except (KeyError, ValueError):
        return
    if available < expected:
        raise ImageReadError(f"truncated file: {available} of the {expected} data bytes its header announces")


def check_nrrd_header(path: Path) -> None:
    """Refuse NRRD ``spacings`` that are zero or negative and ``space directions`` of length zero.

    Raises:
        InvalidImageError: a zero or negative voxel spacing.
    """
    with open(path, "rb") as handle:
        head = handle.read(65536).decode("latin-1")
    if not head.startswith("NRRD"):
        return
    fields = {}
    for line in head.split("\n\n", 1)[0].splitlines()[1:]:
        key, separator, value = line.partition(":")
        if separator and not line.startswith("#"):
            fields[key.strip().lower()] = value.strip()
    if "spacings" in fields:
        values = [v for v in fields["spacings"].split() if v.lower() != "nan"]
        try:
            if any(float(v) <= 0 for v in values):
                raise InvalidImageError(f"zero or negative spacings in the NRRD header ({fields['spacings']})")
        except ValueError:
            pass
    for vector in re.findall(r"\(([^)]*)\)", fields.get("space directions", "")):
        try:
            if not any(float(v) != 0 for v in vector.split(",")):
                raise InvalidImageError(
                    f"zero-length space direction in the NRRD header ({fields['space directions']})"
                )
        except ValueError:
            pass
