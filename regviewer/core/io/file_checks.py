"""Checks made before a reader touches a file: a regular file, plausible data size, enough memory.

- A FIFO, socket or device given as an image would make a reader block forever or read endless
  data: only regular files (and folders, for DICOM series) are read.
- A header may claim far more voxels than its file can hold (a 132-byte NRRD claiming 1200^3):
  the claim is compared with the bytes present (raw data) or with what the compressed bytes can
  possibly expand to (zlib/gzip expand at most ~1032:1), so such a file is called truncated or
  corrupt, which is the truth, before anything is allocated.
- What remains is compared with the memory available now (psutil, else /proc/meminfo): a file that
  would not fit is refused with its dimensions and the memory it needs ("not enough memory" is said
  only then).
"""

from __future__ import annotations

import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from regviewer.core.errors import ImageReadError

#: Most a zlib / gzip stream can expand (deflate's limit is 1032:1); with a margin for headers.
MAX_DEFLATE_RATIO = 1100
#: Reading makes about this many copies of the voxel data at its peak (reader buffer + numpy array).
READ_COPIES = 2


def check_regular_file(path: Path, allow_folder: bool = False) -> None:
    """Refuse a missing path, or anything but a regular file (or a folder when ``allow_folder``).

    Raises:
        ImageReadError: "<path>: file not found" or "<path>: not a regular file (a FIFO ...)".
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot open ({error.strerror or error})") from None
    if stat.S_ISREG(mode) or (allow_folder and stat.S_ISDIR(mode)):
        return
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"{path}: is a folder, not a file")
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device or special file"
    )
    raise ImageReadError(f"{path}: not a regular file ({kind}); RegViewer reads regular files only")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now, or None when the system does not say."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 (psutil missing or unsupported platform: try /proc)
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if count < 1024 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PB"


@dataclass(frozen=True)
class DataClaim:
    """What a header says about its voxel data, and what the file holds.

    Attributes:
        shape: the dimensions as the header lists them (x first, as in the file).
        item_bytes: bytes per voxel (all components).
        stored_bytes: bytes of data actually present (after the header, or in the data file).
        encoding: "raw", "deflate" (zlib/gzip), "text" or "other" (no bound known).
        header_bytes: bytes before the voxels inside a compressed stream (NIfTI's vox_offset).
    """

    shape: tuple[int, ...]
    item_bytes: int
    stored_bytes: int
    encoding: str = "raw"
    header_bytes: int = 0  # bytes before the voxels inside the (decoded) stream, e.g. NIfTI's vox_offset

    @property
    def voxels(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @property
    def data_bytes(self) -> int:
        return self.voxels * self.item_bytes


def check_claim(claim: DataClaim) -> None:
    """Refuse a header whose data cannot be in the file, or would not fit in memory.

    Raises:
        ImageReadError: bad dimensions, truncated / corrupt data, or not enough memory.
    """
    dims = "x".join(str(n) for n in claim.shape)
    if any(n <= 0 for n in claim.shape) or claim.item_bytes <= 0:
        raise ImageReadError(f"invalid dimensions {dims} in the header")
    needed = claim.data_bytes
    if claim.encoding == "raw" and claim.stored_bytes < needed:
        raise ImageReadError(
            f"truncated file: the header announces {dims} voxels ({human_bytes(needed)} of data) "
            f"but the file holds {human_bytes(claim.stored_bytes)}"
        )
    if claim.encoding == "deflate" and needed > claim.stored_bytes * MAX_DEFLATE_RATIO + 4096:
        raise ImageReadError(
            f"truncated or corrupt file: the header announces {dims} voxels ({human_bytes(needed)}) but "
            f"{human_bytes(claim.stored_bytes)} of compressed data cannot hold that much"
        )
    if claim.encoding == "text" and claim.voxels > claim.stored_bytes:
        raise ImageReadError(
            f"truncated file: the header announces {dims} voxels but the file holds only {claim.stored_bytes} characters"
        )
    check_memory(claim.shape, claim.item_bytes)


def check_memory(shape: tuple[int, ...], item_bytes: int, copies: int = READ_COPIES) -> None:
    """Refuse an image of ``shape`` that would not fit in the memory available now."""
    needed = copies * item_bytes
    for size in shape:
        needed *= size
    available = available_memory()
    if available is not None and needed > available:
        dims = "x".join(str(n) for n in shape)
        raise ImageReadError(
            f"not enough memory: {dims} voxels of {item_bytes} bytes need about {human_bytes(needed)} "
            f"to read, and {human_bytes(available)} is available"
        )


def deflated_length(path: Path, offset: int, limit: int, wbits: int = zlib.MAX_WBITS | 32) -> tuple[int, bool]:
    """Bytes a zlib / gzip stream starting at ``offset`` decodes to (counted in chunks, stopping past ``limit``),
    and whether the stream ended with its end marker (False: cut off).

    Concatenated gzip members (bgzip, pigz --independent) are followed to the end of the file.

    Raises:
        ImageReadError: the compressed stream is corrupt.
    """
    decoder = zlib.decompressobj(wbits)
    total = 0
    pending = b""
    with open(path, "rb") as handle:
        handle.seek(offset)
        while total <= limit:
            chunk = pending or handle.read(1 << 20)
            pending = b""
            if not chunk:
                break
            try:
                total += len(decoder.decompress(chunk, 1 << 24))
                while decoder.unconsumed_tail and total <= limit:
                    total += len(decoder.decompress(decoder.unconsumed_tail, 1 << 24))
            except zlib.error as error:
                raise ImageReadError(f"corrupt compressed data ({error})") from None
            if decoder.eof:
                pending = decoder.unused_data
                if not pending:
                    pending = handle.read(1 << 20)
                if not pending or not pending.startswith(b"\x1f\x8b"):
                    break
                decoder = zlib.decompressobj(wbits)
    return total, decoder.eof or total > limit


def check_decoded_length(path: Path, offset: int, expected: int, what: str = "compressed data") -> None:
    """Refuse compressed data that decodes to fewer bytes than the header announces."""
    decoded, ended = deflated_length(path, offset, expected)
    if decoded < expected:
        raise ImageReadError(
            f"truncated file: the {what} decodes to {human_bytes(decoded)}, the header announces {human_bytes(expected)}"
        )
    if not ended:
        raise ImageReadError(f"truncated file: the {what} is cut off before its end marker")
