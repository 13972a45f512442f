"""Refuse outputs that would overwrite an input, and output folders that cannot be written.

Every command that writes files calls these checks *before any work*, so a typo such as
``regviewer register a.nii.gz b.nii.gz -o .`` next to inputs named ``warped.nii.gz`` can never
overwrite the user's data. Two paths are "the same file" when:

- both exist and ``os.path.samefile`` says so (symbolic links, hard links, ``..`` and, on
  case-insensitive file systems, a different case all resolve to the same inode), or
- their normalised absolute paths (``realpath`` + ``normcase``) are equal.

A DICOM folder given as an input is protected as a whole: no output may be written inside it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from regviewer.core.errors import ImageWriteError, RegViewerError


class OutputConflictError(RegViewerError):
    """An output path names one of the inputs (it would be overwritten)."""


def _normalised(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path)))))


def same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """True when both paths name one file (links, ``..`` and case on case-insensitive systems included)."""
    with contextlib.suppress(OSError):
        if os.path.exists(first) and os.path.exists(second):
            return os.path.samefile(first, second)
    return _normalised(first) == _normalised(second)


def _inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    folder_text = _normalised(folder)
    return os.path.commonpath([_normalised(path), folder_text]) == folder_text


def check_outputs_are_not_inputs(
    outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Raise when an output would replace an input file (or land inside an input DICOM folder).

    Args:
        outputs: every file the command may write.
        inputs: every file or folder it reads (None entries are ignored).

    Raises:
        OutputConflictError: one line naming the output and the input.
    """
    sources = [Path(os.fspath(p)).expanduser() for p in inputs if p]
    for output in outputs:
        output = Path(os.fspath(output)).expanduser()
        for source in sources:
            if source.is_dir():
                if _inside(output, source):
                    raise OutputConflictError(
                        f"{output}: this output would be written inside the input folder {source}; choose another output"
                    )
            elif same_file(output, source):
                shown = (
                    "" if output.name == source.name and _normalised(output) == _normalised(source) else f" ({source})"
                )
                raise OutputConflictError(
                    f"{output}: this output is the input file{shown} and would overwrite it; choose another output"
                )


def check_output_folder(folder: str | os.PathLike[str]) -> Path:
    """Make sure ``folder`` can be created (when missing) and a file can be written in it.

    Called before a long run, so that a folder that cannot be written fails at once, not after it.
    Nothing is created: a probe file is written and removed in the folder, or in its nearest
    existing parent when the folder does not exist yet.

    Raises:
        ImageWriteError: one line naming the folder and the reason (a file, a path under a file,
            no permission, a read-only or full disk).
    """
    path = Path(os.fspath(folder)).expanduser()
    if path.exists() and not path.is_dir():
        raise ImageWriteError(f"{path}: the output folder is an existing file; give a folder")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ImageWriteError(f"{path}: cannot create the output folder: {existing} is a file, not a folder")
    probe = existing / f".regviewer-write-test-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"ok")
    except OSError as error:
        from regviewer.core.io.atomic import write_error

        reason = write_error(existing, error).args[0].split(": ", 1)[-1]
        raise ImageWriteError(f"{path}: the output folder cannot be written ({reason})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return path


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """The folder of the output file ``path`` can be written, and ``path`` is not a folder."""
    output = Path(os.fspath(path)).expanduser()
    if output.is_dir():
        raise ImageWriteError(f"{output}: is a folder; give a file name")
    check_output_folder(output.parent if str(output.parent) else Path("."))
    return output
