"""Save and open session bundles: a ``NAME.regviewer`` folder or a ``NAME.regviewer.zip`` file.

Both hold ``session.json`` (see session_document) and ``transforms/`` (ITK files). Image paths are
stored relative to the folder that holds the bundle, so a bundle moved together with its images
still finds them.

Never a half bundle under the final name:

- a zip is written to a temporary sibling and renamed over the old one (core/io/atomic.py);
- a new folder bundle is built in a hidden sibling folder and renamed to its name when complete;
- an existing folder bundle is updated in place, with ``session.json`` as the commit point: new
  transform files are written first (fresh names, atomically), then ``session.json`` is replaced
  atomically, then the files no document names any more are removed. Killed at any moment, the
  folder holds either the old document with all its files or the new one with all of its own.
  Transforms already in the bundle are not written again, which makes a repeated save of large work
  (the autosave, Ctrl+S) cost one small JSON file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regviewer.app import session_images
from regviewer.app.session_document import (
    Session,
    SessionError,
    StoredTransform,
    from_document,
    migrate,
    to_document,
)
from regviewer.app.session_images import ImageProblem
from regviewer.app.session_transforms import TRANSFORM_FOLDER, file_name, write_file
from regviewer.core.errors import RegViewerError
from regviewer.core.io.atomic import TEMP_MARK, atomic_path, write_text_atomic
from regviewer.core.transforms import Transform

DOCUMENT = "session.json"
FOLDER_SUFFIX = ".regviewer"
ZIP_SUFFIX = ".regviewer.zip"
# transform object -> {bundle folder: file name in its transforms/}: what a folder bundle already holds
_WRITTEN: weakref.WeakKeyDictionary[Transform, dict[str, str]] = weakref.WeakKeyDictionary()


@dataclass
class OpenedSession:
    """A session read from ``path``, with the images that are missing or changed."""

    session: Session
    path: Path
    problems: list[ImageProblem] = field(default_factory=list)


def is_zip_path(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(".zip")


def looks_like_session(path: str | os.PathLike[str]) -> bool:
    """True for a ``.regviewer`` folder / zip, or any folder holding ``session.json`` (for the command line)."""
    path = Path(path)
    name = path.name.lower()
    return name.endswith(FOLDER_SUFFIX) or name.endswith(ZIP_SUFFIX) or (path.is_dir() and (path / DOCUMENT).is_file())


def session_path(path: str | os.PathLike[str], kind: str = "folder") -> Path:
    """``path`` with the bundle suffix of ``kind`` ("folder": ``.regviewer``, "zip": ``.regviewer.zip``)."""
    path = Path(path)
    name = path.name
    for suffix in (ZIP_SUFFIX, ".zip", FOLDER_SUFFIX):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + (ZIP_SUFFIX if kind == "zip" else FOLDER_SUFFIX))


def session_name(path: str | os.PathLike[str]) -> str:
    """The name shown in the window title: the bundle name without its suffix."""
    name = Path(path).name
    for suffix in (ZIP_SUFFIX, ".zip", FOLDER_SUFFIX):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---- saving --------------------------------------------------------------------------------------
def _image_entries(session: Session, base: Path) -> dict[str, dict[str, Any]]:
    return {role: session_images.to_entry(ref, base) for role, ref in session.images.items()}


def _transform_sources(session: Session) -> dict[int | str, Any]:
    sources: dict[int | str, Any] = {
        entry.run_id: entry.transform for entry in session.runs if entry.transform is not None
    }
    current = session.current_transform
    if current is not None:
        run_sources = {id(source): key for key, source in sources.items()}
        if id(current) in run_sources:  # the current transform is a run's: the document names the run
            session.current_run = run_sources[id(current)]
        else:
            sources["current"] = current
    for name, source in session.extra_transforms.items():
        if source is not None:
            sources[f"extra:{name}"] = source
    return sources


def _prefix(key: int | str) -> str:
    """The file name prefix of a transform: run-3, current, or the extra transform's own name."""
    if isinstance(key, int):
        return f"run-{key}"
    name = key.removeprefix("extra:")
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in name)[:60] or "transform"


def _place_transform(source: Any, key: int | str, folder: Path, final_folder: Path) -> str:
    """Make ``source`` a file in ``folder`` (reusing one already there); return its name.

    ``final_folder`` is where ``folder`` ends up (they differ while a new bundle is built in staging).
    """
    prefix = _prefix(key)
    if isinstance(source, StoredTransform):
        if source.member is None and source.file.parent.resolve() == folder.resolve() and source.file.exists():
            return source.file.name
        loaded = source._loaded
        name = f"{prefix}-{secrets.token_hex(4)}{Path(source.name).suffix}"
        if loaded is not None:
            name = file_name(prefix, loaded)
            write_file(loaded, folder / name)
        else:
            with atomic_path(folder / name) as temporary:
                temporary.write_bytes(source.read_bytes())
        return name
    known = _WRITTEN.get(source, {}).get(str(final_folder.resolve()))
    if known and (folder / known).exists():
        return known
    name = file_name(prefix, source)
    write_file(source, folder / name)
    _WRITTEN.setdefault(source, {})[str(final_folder.resolve())] = name
    return name


def _write_folder_contents(session: Session, bundle: Path, base: Path, final: Path) -> None:
    transforms = bundle / TRANSFORM_FOLDER
    transforms.mkdir(parents=True, exist_ok=True)
    final_transforms = final / TRANSFORM_FOLDER
    names = {
        key: _place_transform(source, key, transforms, final_transforms)
        for key, source in _transform_sources(session).items()
    }
    document = to_document(session, _image_entries(session, base), names)
    write_text_atomic(bundle / DOCUMENT, json.dumps(document, indent=1))
    for item in transforms.iterdir():  # files no document names any more (older runs, killed writes)
        if item.name not in names.values():
            try:
                item.unlink() if item.is_file() else shutil.rmtree(item)
            except OSError:
                pass


def _save_folder(session: Session, path: Path) -> None:
    base = path.parent
    if path.exists() and not path.is_dir():
        raise SessionError(f"{path}: exists and is a file, not a session folder; choose another name")
    if path.is_dir() and any(path.iterdir()):
        if not (path / DOCUMENT).is_file():
            raise SessionError(f"{path}: this folder exists and is not a RegViewer session; choose another name")
        _write_folder_contents(session, path, base, path)
        return
    staging = path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}")
    try:
        _write_folder_contents(session, staging, base, path)
        if path.is_dir():
            path.rmdir()  # an empty folder chosen as the target
        os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _save_zip(session: Session, path: Path) -> None:
    if path.is_dir():
        raise SessionError(f"{path}: is a folder; a zip session needs a file name")
    names: dict[int | str, str] = {}
    with atomic_path(path) as temporary:
        with zipfile.ZipFile(temporary, "w") as archive:
            for key, source in _transform_sources(session).items():
                prefix = _prefix(key)
                if isinstance(source, StoredTransform) and source._loaded is None:
                    name = f"{prefix}-{secrets.token_hex(4)}{Path(source.name).suffix}"
                    data = source.read_bytes()
                else:
                    transform = source.load() if isinstance(source, StoredTransform) else source
                    name = file_name(prefix, transform)
                    staging = temporary.with_name(f".{name}")
                    try:
                        write_file(transform, staging)
                        data = staging.read_bytes()
                    finally:
                        staging.unlink(missing_ok=True)
                # fields barely compress and deflating them costs seconds: store .h5 as is
                compression = zipfile.ZIP_STORED if name.endswith(".h5") else zipfile.ZIP_DEFLATED
                archive.writestr(f"{TRANSFORM_FOLDER}/{name}", data, compress_type=compression)
                names[key] = name
            document = to_document(session, _image_entries(session, path.parent), names)
            archive.writestr(DOCUMENT, json.dumps(document, indent=1), compress_type=zipfile.ZIP_DEFLATED)


def save_session(session: Session, path: str | os.PathLike[str]) -> Path:
    """Write ``session`` to ``path`` (a ``.zip`` name gives a zip bundle, anything else a folder bundle).

    Raises:
        SessionError / ImageWriteError: the target is unusable or the disk refused; the previous
            bundle at ``path`` is then left as it was.
    """
    path = Path(path).expanduser().absolute()
    for ref in session.images.values():
        if Path(ref.path).resolve() == path.resolve():
            raise SessionError(f"{path}: is one of the session's images; choose another name for the session")
    try:
        if is_zip_path(path):
            _save_zip(session, path)
        else:
            _save_folder(session, path)
    except (RegViewerError, MemoryError):
        raise
    except OSError as error:
        raise SessionError(f"{path}: cannot write the session ({error.strerror or error})") from None
    return path


# ---- opening -------------------------------------------------------------------------------------
def _read_document(path: Path) -> tuple[Any, str]:
    """(parsed session.json, where) of a folder or zip bundle."""
    if not path.exists():
        raise SessionError(f"{path}: no such session")
    try:
        if path.is_dir():
            document_path = path / DOCUMENT
            if not document_path.is_file():
                raise SessionError(f"{path}: not a RegViewer session (the folder has no {DOCUMENT})")
            text = document_path.read_text(encoding="utf-8")
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if DOCUMENT not in archive.namelist():
                    raise SessionError(f"{path}: not a RegViewer session (the zip holds no {DOCUMENT})")
                text = archive.read(DOCUMENT).decode("utf-8")
        else:
            raise SessionError(
                f"{path}: not a RegViewer session (expected a .regviewer folder or a .zip holding {DOCUMENT})"
            )
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        raise SessionError(f"{path}: the session cannot be read ({error})") from None
    try:
        return json.loads(text), str(path)
    except json.JSONDecodeError as error:
        raise SessionError(f"{path}: the session document is damaged ({DOCUMENT}: {error})") from None


def open_session(path: str | os.PathLike[str]) -> OpenedSession:
    """Read a session bundle; missing or changed images are listed in ``problems``, not raised.

    Raises:
        SessionError: not a session, damaged, or saved by a newer RegViewer (the message says which).
    """
    path = Path(path).expanduser().absolute()
    raw, where = _read_document(path)
    document = migrate(raw, where)
    problems: list[ImageProblem] = []
    base = path.parent

    def image_ref(role: str, entry: dict[str, Any]):
        ref, problem = session_images.from_entry(role, entry, base)
        if problem is not None:
            problems.append(problem)
        return ref

    def stored(name: str) -> StoredTransform:
        if path.is_dir():
            return StoredTransform(path / TRANSFORM_FOLDER / name)
        return StoredTransform(path, f"{TRANSFORM_FOLDER}/{name}")

    try:
        session = from_document(document, image_ref, stored)
    except SessionError as error:
        raise SessionError(f"{path}: {error}") from None
    return OpenedSession(session, path, problems)
