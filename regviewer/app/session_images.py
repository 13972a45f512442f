"""Image references of a session: paths relative to the session where possible, size + SHA-256.

A session is often moved or shared together with its images, so each path is stored relative to
the folder that holds the session (``../data/fixed.nii.gz``) and also absolute; on opening, the
relative path is tried first. Size and SHA-256 tell whether the file found is the one that was
saved: a missing or changed file is reported (the window offers "Locate..."), and the rest of the
session opens.

Hashes are cached per (path, size, modification time), so saving again does not re-read images.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regviewer.app.session_document import ImageRef, SessionError

_CHUNK = 4 << 20
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class ImageProblem:
    """An image of the session that is not what was saved."""

    role: str
    path: Path
    kind: str  # "missing" or "changed"
    message: str


def _files(path: Path) -> list[Path]:
    """The file itself, or every file of a folder (a DICOM series) in a stable order."""
    if path.is_dir():
        return sorted(
            (item for item in path.rglob("*") if item.is_file()), key=lambda item: item.relative_to(path).as_posix()
        )
    return [path]


def fingerprint(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a file, or of a folder's files with their relative names."""
    files = _files(path)
    stats = [item.stat() for item in files]
    key = (str(path.resolve()), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0))
    cached = _HASH_CACHE.get(key)
    if cached is not None:
        return key[1], cached
    digest = hashlib.sha256()
    for item in files:
        if path.is_dir():
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        with open(item, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    _HASH_CACHE[key] = digest.hexdigest()
    return key[1], _HASH_CACHE[key]


def image_ref(path: str | os.PathLike[str], **options: Any) -> ImageRef:
    """A reference to an existing image file with its fingerprint (``options`` as for read_image)."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise SessionError(f"{path}: file not found")
    size, sha256 = fingerprint(path)
    return ImageRef(path, size, sha256, {key: value for key, value in options.items() if value is not None})


def to_entry(ref: ImageRef, base: Path) -> dict[str, Any]:
    """The document entry of ``ref`` for a session stored in folder ``base``."""
    absolute = Path(ref.path).resolve()
    try:
        relative: str | None = Path(os.path.relpath(absolute, base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        relative = None
    entry: dict[str, Any] = {"path": relative or str(absolute), "absolute": str(absolute)}
    if ref.size is None or ref.sha256 is None:
        if absolute.exists():
            ref.size, ref.sha256 = fingerprint(absolute)
    entry.update({"size": ref.size, "sha256": ref.sha256})
    if ref.options:
        entry["options"] = dict(ref.options)
    return entry


def _candidates(entry: dict[str, Any], base: Path) -> list[Path]:
    found = []
    for text in (entry.get("path"), entry.get("absolute")):
        if not text:
            continue
        candidate = Path(text)
        candidate = candidate if candidate.is_absolute() else base / candidate
        candidate = Path(os.path.normpath(candidate))
        if candidate not in found:
            found.append(candidate)
    return found


def from_entry(role: str, entry: dict[str, Any], base: Path) -> tuple[ImageRef, ImageProblem | None]:
    """Find the image of a document entry; report it when missing or changed since the session was saved."""
    if not isinstance(entry, dict) or not entry.get("path"):
        raise SessionError(f"the session document is damaged (image '{role}' has no path)")
    size, sha256 = entry.get("size"), entry.get("sha256")
    options = dict(entry.get("options") or {})
    candidates = _candidates(entry, base)
    existing = [path for path in candidates if path.exists()]
    if not existing:
        where = " or ".join(str(path) for path in candidates)
        return ImageRef(candidates[0], size, sha256, options), ImageProblem(
            role, candidates[0], "missing", f"{role.replace('_', ' ')} image not found at {where}"
        )
    for path in existing:
        if sha256 is None or fingerprint(path) == (size, sha256):
            return ImageRef(path, size, sha256, options), None
    path = existing[0]
    now_size, _ = fingerprint(path)
    detail = f"{size} bytes then, {now_size} now" if now_size != size else "same size, different content"
    return (
        ImageRef(path, size, sha256, options),
        ImageProblem(
            role,
            path,
            "changed",
            f"{role.replace('_', ' ')} image {path} changed since the session was saved ({detail})",
        ),
    )


def locate(ref: ImageRef, new_path: str | os.PathLike[str]) -> tuple[ImageRef, str | None]:
    """Point ``ref`` at ``new_path`` (the user's "Locate..."); the second value warns when the content differs."""
    located = image_ref(new_path, **ref.options)
    if ref.sha256 is not None and located.sha256 != ref.sha256:
        return (
            located,
            f"{located.path} is not the file the session was saved with (different content); using it anyway",
        )
    return located, None
