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


def _check_metaimage_dimensions(fields: dict[str, str]) -> None:
    """NDims 1..5 and DimSize with NDims positive sizes (ITK's reader crashes the process on some bad NDims)."""
    try:
        ndims = int(fields.get("NDims", ""))
    except ValueError:
        raise ImageReadError(
            f"NDims = {fields.get('NDims', '(missing)')} in the header is not a number of dimensions"
        ) from None
    if not 1 <= ndims <= 5:
        raise ImageReadError(
            f"NDims = {ndims} in the header: RegViewer reads 2D and 3D images (1..5 dimensions in a file)"
        )
    try:
        sizes = [int(v) for v in fields.get("DimSize", "").split()]
    except ValueError:
        sizes = []
    if len(sizes) != ndims or any(n <= 0 for n in sizes):
        raise ImageReadError(
            f"DimSize = {fields.get('DimSize', '(missing)')} in the header does not give {ndims} positive sizes"
        )
    for key in ("ElementSpacing", "Offset", "Origin", "Position"):
        if key in fields and len(fields[key].split()) < ndims:
            raise ImageReadError(f"{key} = {fields[key]} in the header has fewer than {ndims} values")


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
    _check_metaimage_dimensions(fields)
    spacing_text = fields.get("ElementSpacing", "")
    try:
        spacing = [float(v) for v in spacing_text.split()]
    except ValueError:
        spacing = []
    if any(not np.isfinite(v) for v in spacing):
        raise InvalidImageError(f"ElementSpacing is not a number in the header ({spacing_text})")
    if any(v <= 0 for v in spacing):
        raise InvalidImageError(f"zero or negative ElementSpacing in the header ({spacing_text})")
    for key in ("Offset", "Origin", "Position"):
        if key in fields and any(v.lower() in ("nan", "-nan", "inf", "-inf") for v in fields[key].split()):
            raise InvalidImageError(f"the image origin ({key} = {fields[key]}) is not a finite number in the header")
    for key in ("TransformMatrix", "Orientation", "Rotation"):
        if key in fields:
            try:
                values = np.array([float(v) for v in fields[key].split()])
                n = int(round(np.sqrt(values.size)))
                if n * n == values.size and (
                    not np.all(np.isfinite(values)) or abs(np.linalg.det(values.reshape(n, n))) < 1e-6
                ):
                    raise InvalidImageError(f"the direction matrix ({key} = {fields[key]}) is singular or not finite")
            except ValueError:
                pass
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
        # NaN marks a non-spatial axis (a vector component, time): refused on spatial axes only.
        kinds = fields.get("kinds", "").split()
        values = fields["spacings"].split()
        for axis, text in enumerate(values):
            spatial = axis >= len(kinds) or kinds[axis].lower() in ("domain", "space", "time")
            try:
                value = float(text)
            except ValueError:
                continue
            if np.isnan(value) and spatial:
                raise InvalidImageError(
                    f"spacing of axis {axis} is not a number in the NRRD header (spacings: {fields['spacings']})"
                )
            if value <= 0:
                raise InvalidImageError(f"zero or negative spacings in the NRRD header ({fields['spacings']})")
    origin = fields.get("space origin", "")
    if re.search(r"nan|inf", origin, re.IGNORECASE):
        raise InvalidImageError(f"the space origin {origin} is not a finite number in the NRRD header")
    directions = fields.get("space directions", "")
    if re.search(r"nan|inf", directions, re.IGNORECASE):
        raise InvalidImageError(f"the space directions {directions} are not finite numbers in the NRRD header")
    vectors = []
    for vector in re.findall(r"\(([^)]*)\)", directions):
        try:
            vectors.append([float(v) for v in vector.split(",")])
        except ValueError:
            vectors = []
            break
    if vectors and len({len(v) for v in vectors}) == 1 and len(vectors) == len(vectors[0]):
        if any(not any(v) for v in vectors):
            raise InvalidImageError(f"zero-length space direction in the NRRD header ({directions})")
        if abs(np.linalg.det(np.array(vectors))) < 1e-12 * max(1.0, float(np.abs(vectors).max()) ** len(vectors)):
            raise InvalidImageError(
                f"the space directions {directions} are linearly dependent (a singular grid) in the NRRD header"
            )
