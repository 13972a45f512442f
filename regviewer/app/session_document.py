"""What a session holds, in memory and as the versioned JSON document ``session.json``.

A session names its images (with size and SHA-256, so a changed or missing file is noticed), keeps
the landmark pairs, every run of the history (parameters, status, message, warnings, figures and
its transform), the current transform and free-text notes. Everything the window shows besides
(view state, window/level, overlays ...) is stored as the opaque dicts that each model object gives
from ``snapshot()`` and takes back in ``restore(dict)``: the document does not depend on their
insides, only on their being JSON-able.

Transforms are not JSON: they live beside the document as ITK files (``transforms/``) and the
document names them. ``StoredTransform`` reads one only when it is first needed, so opening a
session with five dense-field runs does not read five fields up front.

The document carries ``format`` and ``version``; ``migrate`` upgrades older versions step by step,
and a newer or foreign document is refused with a message that says why.
"""

from __future__ import annotations

import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regviewer import __version__
from regviewer.core.errors import RegViewerError
from regviewer.core.transforms import Transform

FORMAT_NAME = "regviewer-session"
FORMAT_VERSION = 2
IMAGE_ROLES = ("fixed", "moving", "fixed_labels", "moving_labels", "fixed_mask", "moving_mask")


class SessionError(RegViewerError):
    """A session file that cannot be opened or written (broken, newer, foreign, disk error)."""


@dataclass
class ImageRef:
    """An image the session uses: where it is, and what it was when the session was saved.

    Attributes:
        path: absolute path of the file (or DICOM folder) in this process.
        size: bytes (sum over a folder's files); None when unknown.
        sha256: hex digest of the content; None when unknown.
        options: how to read it (``channel``, ``key``), passed to ``read_image``.
    """

    path: Path
    size: int | None = None
    sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class StoredTransform:
    """A transform kept in a file (or a zip member) and read on first use."""

    def __init__(self, file: Path, member: str | None = None) -> None:
        self.file = Path(file)
        self.member = member
        self._loaded: Transform | None = None

    def load(self) -> Transform:
        """The transform (read once; a missing or broken file raises ``SessionError``)."""
        if self._loaded is None:
            from regviewer.app.session_transforms import read_stored

            self._loaded = read_stored(self)
        return self._loaded

    def read_bytes(self) -> bytes:
        """The raw file content (to copy it into another bundle without parsing it)."""
        try:
            if self.member is None:
                return self.file.read_bytes()
            with zipfile.ZipFile(self.file) as archive:
                return archive.read(self.member)
        except (OSError, KeyError, zipfile.BadZipFile) as error:
            raise SessionError(f"{self.file}: the transform {self.member or ''} cannot be read ({error})") from None

    @property
    def name(self) -> str:
        return Path(self.member).name if self.member else self.file.name


TransformSource = Transform | StoredTransform | None


def resolve_transform(source: TransformSource) -> Transform | None:
    return source.load() if isinstance(source, StoredTransform) else source


@dataclass
class RunEntry:
    """One run of the history as the session keeps it.

    Attributes:
        run_id: number shown in the history (#1, #2 ...).
        title: what ran, e.g. "rigid -> affine".
        status: "completed", "cancelled", "failed" (or "running" when saved mid-run: reopened as failed).
        parameters: JSON-able: method chain, stages with their parameters, preset, start, mask ...
        message: why the run stopped.
        warnings: plain-language problems (folding, worse than before, a diverged stage).
        figures: the before / after figures (metrics.json's "before" / "after"), or None.
        runtime_s: registration wall time.
        started: seconds since the epoch.
        transform: the fixed -> moving result (object, or a file read on demand), or None.
        extra: opaque JSON-able data of the model's run record (kept as given).
    """

    run_id: int
    title: str
    status: str
    parameters: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, Any] | None = None
    runtime_s: float = 0.0
    started: float = field(default_factory=time.time)
    transform: TransformSource = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load_transform(self) -> Transform | None:
        return resolve_transform(self.transform)


@dataclass
class LandmarkPair:
    """A landmark pair in LPS mm (either point may be missing while placing)."""

    name: str
    fixed: tuple[float, ...] | None
    moving: tuple[float, ...] | None
    active: bool = True


@dataclass
class Session:
    """Everything a session file holds (see the module docstring)."""

    images: dict[str, ImageRef] = field(default_factory=dict)
    landmarks: list[LandmarkPair] = field(default_factory=list)
    runs: list[RunEntry] = field(default_factory=list)
    current_run: int | None = None
    current_transform: TransformSource = None
    extra_transforms: dict[str, TransformSource] = field(default_factory=dict)  # e.g. a run's start transform
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    saved_at: float | None = None
    saved_by: str = ""

    def run(self, run_id: int) -> RunEntry:
        for entry in self.runs:
            if entry.run_id == run_id:
                return entry
        known = ", ".join(f"#{entry.run_id}" for entry in self.runs) or "none"
        raise SessionError(f"the session has no run #{run_id} (runs: {known})")


# ---- JSON ---------------------------------------------------------------------------------------
def clean_json(value: Any) -> Any:
    """A JSON-able copy: numpy scalars / arrays to Python, tuples to lists, NaN / inf to None."""
    if isinstance(value, dict):
        return {str(key): clean_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return clean_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise SessionError(f"cannot save a value of type {type(value).__name__} in a session")


def _point(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(item) for item in value)


def to_document(
    session: Session, image_paths: dict[str, dict[str, Any]], transform_names: dict[int | str, str]
) -> dict[str, Any]:
    """The JSON document of ``session``; image entries and transform file names are given by the writer."""
    runs = []
    for entry in session.runs:
        runs.append(
            {
                "id": entry.run_id,
                "title": entry.title,
                "status": entry.status,
                "message": entry.message,
                "warnings": list(entry.warnings),
                "parameters": clean_json(entry.parameters),
                "figures": clean_json(entry.figures),
                "runtime_s": round(float(entry.runtime_s), 3),
                "started": entry.started,
                "transform": transform_names.get(entry.run_id),
                "extra": clean_json(entry.extra),
            }
        )
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "saved_by": f"regviewer {__version__}",
        "saved_at": time.time(),
        "direction": "transforms map fixed-space points (LPS mm) to moving-space points",
        "images": image_paths,
        "landmarks": [
            {
                "name": pair.name,
                "active": bool(pair.active),
                "fixed": clean_json(pair.fixed),
                "moving": clean_json(pair.moving),
            }
            for pair in session.landmarks
        ],
        "runs": runs,
        "current": {"run": session.current_run, "transform": transform_names.get("current")},
        "transforms": {
            name: transform_names[f"extra:{name}"]
            for name in session.extra_transforms
            if f"extra:{name}" in transform_names
        },
        "state": clean_json(session.state),
        "notes": session.notes,
    }


def from_document(
    document: dict[str, Any],
    image_ref: Callable[[str, dict[str, Any]], ImageRef],
    stored: Callable[[str], StoredTransform],
) -> Session:
    """A ``Session`` from a (migrated) document; ``image_ref`` / ``stored`` resolve paths and files."""
    try:
        session = Session(
            images={role: image_ref(role, entry) for role, entry in document.get("images", {}).items()},
            landmarks=[
                LandmarkPair(
                    str(item.get("name", "")),
                    _point(item.get("fixed")),
                    _point(item.get("moving")),
                    bool(item.get("active", True)),
                )
                for item in document.get("landmarks", [])
            ],
            current_run=document.get("current", {}).get("run"),
            state=dict(document.get("state", {})),
            notes=str(document.get("notes", "")),
            saved_at=document.get("saved_at"),
            saved_by=str(document.get("saved_by", "")),
        )
        for item in document.get("runs", []):
            status = str(item["status"])
            message = str(item.get("message", ""))
            if status == "running":  # saved while a run was going: it did not finish in this session
                status, message = "failed", "the session was saved while this run was still going"
            session.runs.append(
                RunEntry(
                    run_id=int(item["id"]),
                    title=str(item.get("title", "")),
                    status=status,
                    message=message,
                    parameters=dict(item.get("parameters") or {}),
                    warnings=[str(w) for w in item.get("warnings", [])],
                    figures=item.get("figures"),
                    runtime_s=float(item.get("runtime_s", 0.0)),
                    started=float(item.get("started", 0.0)),
                    transform=stored(item["transform"]) if item.get("transform") else None,
                    extra=dict(item.get("extra") or {}),
                )
            )
        session.extra_transforms = {
            str(name): stored(file) for name, file in (document.get("transforms") or {}).items()
        }
        current_file = document.get("current", {}).get("transform")
        if current_file:
            session.current_transform = stored(current_file)
        elif session.current_run is not None:
            session.current_transform = next(
                (run.transform for run in session.runs if run.run_id == session.current_run), None
            )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SessionError(f"the session document is damaged ({type(error).__name__}: {error})") from None
    return session


# ---- versions -----------------------------------------------------------------------------------
def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (the draft format): images as bare path strings, run files under "transform_file", no notes."""
    document["images"] = {
        role: ({"path": entry} if isinstance(entry, str) else entry)
        for role, entry in document.get("images", {}).items()
    }
    for run in document.get("runs", []):
        if "transform_file" in run:
            run["transform"] = run.pop("transform_file")
        run.setdefault("warnings", [])
    document.setdefault("notes", "")
    document.setdefault("state", {})
    document.setdefault("transforms", {})
    document["version"] = 2
    return document


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_version_1}


def migrate(document: Any, where: str) -> dict[str, Any]:
    """Check ``format`` / ``version`` and upgrade an older document to FORMAT_VERSION.

    Raises:
        SessionError: not a RegViewer session, a newer version, or a version with no migration.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise SessionError(f'{where}: not a RegViewer session (no "format": "{FORMAT_NAME}" in session.json)')
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SessionError(f"{where}: the session document has no valid version number ({version!r})")
    if version > FORMAT_VERSION:
        raise SessionError(
            f"{where}: saved by a newer RegViewer ({document.get('saved_by', 'unknown version')}, session format "
            f"{version}); this RegViewer {__version__} reads session formats up to {FORMAT_VERSION}: update RegViewer to open it"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SessionError(
                f"{where}: session format {version} is no longer supported (no upgrade to {version + 1})"
            )
        document = step(document)
        version = document["version"]
    return document
