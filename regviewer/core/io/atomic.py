"""Atomic file output: every file RegViewer writes appears complete under its final name, or not at all.

A writer writes to a temporary file in the destination's own folder (same file system, so the final
``os.replace`` is atomic), flushes it to disk, then renames it over the final name. A crash, kill -9,
Ctrl-C or a full disk while writing leaves at most a hidden temporary file, never a truncated file
under the final name, and never touches an existing file of that name until the new one is whole.

The temporary name keeps the destination's extension (``.warped.tmp-1a2b3c.nii.gz``), because the
image and transform writers choose the format from it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from regviewer.core.errors import ImageWriteError

_COMPOUND_EXTENSIONS = (".nii.gz", ".mrk.json", ".tar.gz")
TEMP_MARK = ".tmp-"


def split_extension(path: Path) -> tuple[str, str]:
    """``warped.nii.gz`` -> (``warped``, ``.nii.gz``); ``a.b.tfm`` -> (``a.b``, ``.tfm``)."""
    name = path.name
    for compound in _COMPOUND_EXTENSIONS:
        if name.lower().endswith(compound) and len(name) > len(compound):
            return name[: -len(compound)], name[-len(compound) :]
    return path.stem, path.suffix


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name beside ``path`` with the same extension."""
    stem, extension = split_extension(path)
    return path.with_name(f".{stem}{TEMP_MARK}{secrets.token_hex(4)}{extension}")


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_error(path: Path, error: OSError) -> ImageWriteError:
    """A one-line message for an OS error while writing ``path`` (a full disk is named as such)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ImageWriteError(f"{path}: the disk is full; nothing was written under this name")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ImageWriteError(f"{path}: no permission to write here")
    return ImageWriteError(f"{path}: cannot write ({error.strerror or error})")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Missing parent folders are created. If the body raises, the temporary file is removed and the
    exception propagates (an ``OSError`` becomes an ``ImageWriteError`` naming ``path``); an existing
    file at ``path`` is left untouched.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(final, error) from error
    temporary = temporary_sibling(final)
    try:
        yield temporary
        if not temporary.exists():
            raise ImageWriteError(f"{final}: the writer produced no file")
        _fsync_file(temporary)
        os.replace(temporary, final)
        _fsync_folder(final.parent)
    except OSError as error:
        raise write_error(final, error) from error
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode(encoding))
