"""What each image header claims about its voxel data, read before any voxel is allocated.

``data_claim(path, family)`` returns a :class:`~regviewer.core.io.file_checks.DataClaim` (dimensions,
bytes per voxel, bytes present, encoding) for NIfTI, NRRD, MetaImage, pictures and .npz, or None when
the header gives no usable claim (the reader then reports what is wrong). ``check_claim`` then
refuses truncated data and images that would not fit in memory, before the real reader runs.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError
from regviewer.core.io.file_checks import DataClaim

_NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "char", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(
        (
            "short",
            "short int",
            "signed short",
            "signed short int",
            "int16",
            "int16_t",
            "ushort",
            "unsigned short",
            "unsigned short int",
            "uint16",
            "uint16_t",
        ),
        2,
    ),
    **dict.fromkeys(
        ("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t", "float"), 4
    ),
    **dict.fromkeys(
        (
            "longlong",
            "long long",
            "long long int",
            "signed long long",
            "signed long long int",
            "int64",
            "int64_t",
            "ulonglong",
            "unsigned long long",
            "unsigned long long int",
            "uint64",
            "uint64_t",
            "double",
        ),
        8,
    ),
}
_MET_TYPE_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split())
    except ValueError:
        raise ImageReadError(f"{what} {text!r} in the header are not whole numbers") from None


def gzip_size_hint(path: Path) -> int:
    """The uncompressed size modulo 2**32 that a gzip file records in its last 4 bytes."""
    with open(path, "rb") as handle:
        handle.seek(-4, 2)
        return int.from_bytes(handle.read(4), "little")


def nifti_claim(path: Path) -> DataClaim | None:
    from regviewer.core.io.nifti import _raw_header

    header = _raw_header(path)
    n_dims = int(header["dim"][0])
    if not 1 <= n_dims <= 7:
        raise ImageReadError(f"invalid number of dimensions {n_dims} in the header (dim[0] must be 1..7)")
    shape = tuple(int(v) for v in header["dim"][1 : n_dims + 1])
    item_bytes = max(int(header["bitpix"]) // 8, 0)
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        return DataClaim(shape, item_bytes, size, "deflate", int(header["vox_offset"]))
    return DataClaim(shape, item_bytes, max(size - int(header["vox_offset"]), 0), "raw")


def _nrrd_fields(path: Path) -> tuple[dict[str, str], int] | None:
    with open(path, "rb") as handle:
        head = handle.read(65536)
    if not head.startswith(b"NRRD"):
        return None
    end = head.find(b"\n\n")
    text = head[: end if end >= 0 else len(head)].decode("latin-1")
    fields = {}
    for line in text.splitlines()[1:]:
        if line.startswith("#"):
            continue
        key, separator, value = line.partition(":")
        if separator:
            fields[key.strip().lower()] = value.lstrip("=").strip()
    return fields, (end + 2 if end >= 0 else len(head))


def nrrd_claim(path: Path) -> DataClaim | None:
    parsed = _nrrd_fields(path)
    if parsed is None:
        return None
    fields, offset = parsed
    if "sizes" not in fields or "type" not in fields:
        return None
    shape = _int_list(fields["sizes"], "sizes")
    item_bytes = _NRRD_TYPE_BYTES.get(fields["type"].lower())
    if item_bytes is None:
        return None
    encoding = fields.get("encoding", "raw").lower()
    data_file = fields.get("data file") or fields.get("datafile")
    if data_file:
        if data_file.upper() == "LIST" or "%" in data_file:
            return None
        target = path.parent / data_file
        if not target.is_file():
            raise ImageReadError(f"the data file {data_file} named in the header is missing")
        stored, offset = target.stat().st_size, 0
    else:
        stored = max(path.stat().st_size - offset, 0)
    kind = {"raw": "raw", "gzip": "deflate", "gz": "deflate", "ascii": "text", "text": "text", "txt": "text"}.get(
        encoding, "other"
    )
    if kind == "raw" and "line skip" not in fields and "byte skip" not in fields:
        return DataClaim(shape, item_bytes, stored, "raw")
    return DataClaim(shape, item_bytes, stored, kind if kind != "raw" else "other")


def nrrd_data_offset(path: Path) -> tuple[Path, int] | None:
    """(file, offset) of the gzip data of an attached or detached gzip NRRD, else None."""
    parsed = _nrrd_fields(path)
    if parsed is None:
        return None
    fields, offset = parsed
    if fields.get("encoding", "").lower() not in ("gzip", "gz") or "byte skip" in fields or "line skip" in fields:
        return None
    data_file = fields.get("data file") or fields.get("datafile")
    if data_file:
        if data_file.upper() == "LIST" or "%" in data_file:
            return None
        return path.parent / data_file, 0
    return path, offset


def metaimage_fields(path: Path) -> tuple[dict[str, str], int] | None:
    """Header fields of a MetaImage and the offset of its local data (None: not a MetaImage)."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    marker = head.find(b"ElementDataFile")
    if marker < 0:
        return None
    end = head.find(b"\n", marker)
    text = head[: end if end >= 0 else len(head)].decode("latin-1")
    fields = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            fields[key.strip()] = value.strip()
    return fields, (end + 1 if end >= 0 else len(head))


def metaimage_claim(path: Path) -> DataClaim | None:
    parsed = metaimage_fields(path)
    if parsed is None or "DimSize" not in parsed[0]:
        return None
    fields, offset = parsed
    shape = _int_list(fields["DimSize"], "DimSize")
    channels = _int_list(fields.get("ElementNumberOfChannels", "1"), "ElementNumberOfChannels") or (1,)
    type_bytes = _MET_TYPE_BYTES.get(fields.get("ElementType", "").upper())
    if type_bytes is None:
        raise ImageReadError(f"unknown ElementType {fields.get('ElementType', '(none)')!r} in the header")
    item_bytes = type_bytes * channels[0]
    data_file = fields.get("ElementDataFile", "")
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if data_file.upper() == "LOCAL":
        stored = max(path.stat().st_size - offset, 0)
    elif data_file and " " not in data_file and "%" not in data_file and data_file.upper() != "LIST":
        target = path.parent / data_file
        if not target.is_file():
            raise ImageReadError(f"the data file {data_file} named in the header is missing")
        stored = target.stat().st_size
    else:
        return None
    return DataClaim(shape, item_bytes, stored, "deflate" if compressed else "raw")


def picture_claim(path: Path) -> DataClaim | None:
    """Size of a PNG / JPEG / TIFF from its header (Pillow reads only the header here)."""
    from PIL import Image as PILImage

    PILImage.MAX_IMAGE_PIXELS = None  # our own memory check replaces Pillow's bomb warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on odd tags ("Corrupt EXIF data")
            with PILImage.open(path) as picture:
                width, height = picture.size
                frames = int(getattr(picture, "n_frames", 1) or 1)
                bands = len(picture.getbands())
                bits = {"1": 1, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "I;16": 16, "I;16B": 16, "I": 32, "F": 32}.get(
                    picture.mode, 8
                )
    except Exception:  # noqa: BLE001 (Pillow cannot read it: ITK will say what is wrong)
        return None
    shape = (width, height) if frames == 1 else (width, height, frames)
    return DataClaim(shape, max(1, bands * bits // 8), path.stat().st_size, "other")


def check_picture_complete(path: Path, family: str) -> None:
    """Decode a PNG / JPEG fully with Pillow: a truncated or corrupt picture raises (ITK fills the rest with zeros)."""
    from PIL import Image as PILImage
    from PIL import ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PILImage.open(path) as picture:
                picture.load()
    except UnidentifiedImageError:
        raise ImageReadError(f"not a readable {family.upper()} file: its content is not recognised") from None
    except Exception as error:  # noqa: BLE001
        from regviewer.core.io._common import short_reason

        reason = short_reason(error).replace(str(path), path.name)
        raise ImageReadError(f"truncated or corrupt {family.upper()} picture ({reason})") from None


def npz_claim(path: Path, key: str) -> DataClaim | None:
    """Shape of the .npy member ``key`` of an archive, from its header; None when it is not there."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{key}.npy")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                reader = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = reader(member)
                header_bytes = member.tell()
    except KeyError:
        return None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ImageReadError(f"not a readable .npz archive ({error})") from None
    if dtype.hasobject or not shape:
        return None
    return DataClaim(tuple(int(n) for n in shape), dtype.itemsize, max(info.file_size - header_bytes, 0), "raw")
