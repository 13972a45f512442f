"""Between the application model and a session: ``session_from_model`` and ``restore_model``.

The model objects (Workspace, ViewerState, Landmarks, OverlayState, RunHistory) give JSON-able
``snapshot()`` dicts, stored as they are under the document's "state"; what needs files (images,
transforms) or must be readable without the model (landmark pairs, the runs with their figures, for
``regviewer session export`` and for scripts) is written in the session's own sections.

``session_from_model`` runs on the GUI thread for every autosave, so it only copies references:
no image is hashed and no transform written here (the writer thread does that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regviewer.app.landmark_set import Landmarks
from regviewer.app.overlay_settings import OverlayState
from regviewer.app.run_history import RunHistory, RunRecord, transform_ref
from regviewer.app.session_document import ImageRef, LandmarkPair, RunEntry, Session
from regviewer.app.session_io import OpenedSession
from regviewer.app.viewer_state import ViewerState
from regviewer.app.workspace import ROLES, Workspace
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.io.label_channels import LabelFile, read_label_map
from regviewer.core.transforms import Transform


@dataclass
class AppModel:
    """The model objects of one window (what a session saves)."""

    workspace: Workspace
    viewer: ViewerState
    landmarks: Landmarks
    overlays: OverlayState
    history: RunHistory
    notes: str = ""


def _run_entry(record: RunRecord) -> RunEntry:
    result = record.result
    status = record.status
    stages = [{"method": stage.method, "parameters": dict(stage.parameters)} for stage in record.stages]
    figures = record.figures if record.figures is not None and "error" not in record.figures else None
    return RunEntry(
        run_id=record.run_id,
        title=record.title,
        status=status,
        parameters={
            "method": result.method if result is not None else ",".join(s["method"] for s in stages),
            "preset": record.preset,
            "stages": stages,
            "start": record.start_label,
            "mask": record.mask_label,
            "use_labels": record.use_labels,
        },
        message=result.message if result is not None else "",
        warnings=list(record.warnings),
        figures=figures,
        runtime_s=result.runtime_s if result is not None else 0.0,
        started=record.started,
        transform=result.transform if result is not None else None,  # a failed run keeps its start (the model wants it)
        extra=record.snapshot(),
    )


def session_from_model(model: AppModel) -> Session:
    """The model as a Session (references only; cheap enough for every autosave)."""
    workspace = model.workspace
    images = {
        role: ImageRef(Path(source), options=workspace.source_options(role))
        for role, source in workspace.sources.items()
        if source
    }
    reference = workspace.reference
    ndim = reference.ndim if reference is not None else 3
    landmarks = (
        [LandmarkPair(pair.name, pair.fixed, pair.moving, pair.active) for pair in model.landmarks.for_ndim(ndim).pairs]
        if ndim in model.landmarks.sets
        else []
    )
    runs = [_run_entry(record) for record in model.history]
    extra = {
        f"{transform_ref(record.run_id)}-start": record.initial_transform
        for record in model.history
        if record.initial_transform is not None
    }
    current = workspace.transform
    current_run = next((entry.run_id for entry in runs if current is not None and entry.transform is current), None)
    return Session(
        images=images,
        landmarks=landmarks,
        runs=runs,
        current_run=current_run,
        current_transform=current,
        extra_transforms=extra,
        notes=model.notes,
        state={
            "workspace": workspace.snapshot(),
            "viewer": model.viewer.snapshot(),
            "landmarks": model.landmarks.snapshot(),
            "overlays": model.overlays.snapshot(),
            "history": {"next_id": model.history.next_id},
        },
    )


def image_source(ref: ImageRef) -> str | LabelFile:
    """The source the workspace keeps for an image of a session: its path, with the label channel read if any."""
    channel = ref.options.get("label_channel")
    return str(ref.path) if channel is None else LabelFile(str(ref.path), channel)


def read_session_images(
    opened: OpenedSession, read: Callable[..., Image] = read_image
) -> tuple[dict[str, Image], list[str]]:
    """The images of a session that exist (missing ones are left out); messages for those that cannot be read."""
    images, messages = {}, []
    for role, ref in opened.session.images.items():
        if role not in ROLES or not Path(ref.path).exists():
            continue
        options = dict(ref.options)
        channel = options.pop("label_channel", None)
        try:
            if channel is not None:  # one channel, or the integer map, of a 4D label file
                images[role] = read_label_map(LabelFile(str(ref.path), channel))
                continue
            images[role] = read(ref.path, is_label=role.endswith("labels") or role.endswith("mask"), **options)
        except RegViewerError as error:
            messages.append(f"{role.replace('_', ' ')} image: {error}")
    return images, messages


def _load(source: Any, what: str, messages: list[str]) -> Transform | None:
    try:
        return source.load() if hasattr(source, "load") else source
    except RegViewerError as error:
        messages.append(f"{what}: {error}")
        return None


def _record_snapshot(entry: RunEntry) -> dict[str, Any]:
    """The model's record snapshot (as saved), or one built from the entry (a session written elsewhere)."""
    if entry.extra.get("run_id") == entry.run_id:
        data = dict(entry.extra)
    else:
        data = {
            "run_id": entry.run_id,
            "title": entry.title,
            "stages": entry.parameters.get("stages", []),
            "figures": entry.figures,
            "started": entry.started,
            "result": {
                "method": entry.parameters.get("method", entry.title),
                "status": entry.status,
                "runtime_s": entry.runtime_s,
                "message": entry.message,
                "log": [f"warning: {warning}" for warning in entry.warnings],
            },
        }
    if data.get("result") is None and entry.status == "failed":  # saved while it ran: it never finished
        data["result"] = {
            "method": entry.parameters.get("method", entry.title),
            "status": "failed",
            "message": entry.message,
        }
    if data.get("result") is not None:
        data["result"] = dict(data["result"], transform_ref=transform_ref(entry.run_id))
        if entry.status == "failed":
            data["result"]["status"] = "failed"
    return data


def current_transform(opened: OpenedSession) -> tuple[Transform | None, list[str]]:
    """The session's current transform (read from its file), and a message when it cannot be read."""
    session, messages = opened.session, []
    source = session.current_transform
    if source is None and session.current_run is not None:
        source = next((entry.transform for entry in session.runs if entry.run_id == session.current_run), None)
    return (_load(source, "the current transform", messages) if source is not None else None), messages


def restore_model(model: AppModel, opened: OpenedSession, images: dict[str, Image] | None = None) -> list[str]:
    """Show an opened session in ``model``; returns problems to report.

    ``images``: from ``read_session_images``, given to the workspace with the current transform;
    None when the caller has shown the images itself (the window loads them through its views).
    The view state, landmarks, overlays and history are restored after the images, since some of
    them (window / level, a run's images) refer to them.
    """
    session, messages = opened.session, []
    state = session.state
    if images is not None:
        current, problems = current_transform(opened)
        messages += problems
        workspace_state = dict(state.get("workspace") or {})
        roles = {role: dict(entry) for role, entry in (workspace_state.get("roles") or {}).items()}
        for role, ref in session.images.items():  # the files found now (moved, located), not the saved paths
            roles.setdefault(role, {})["source"] = str(ref.path)
            if ref.options.get("label_channel") is not None:
                roles[role]["options"] = {"label_channel": ref.options["label_channel"]}
        workspace_state["roles"] = roles
        reference = images.get("fixed") or images.get("moving")
        if current is not None and reference is not None and current.ndim != reference.ndim:
            current = None
        model.workspace.restore(workspace_state, images, current)
    transforms: dict[str, Transform] = {}
    for entry in session.runs:
        if entry.transform is not None:
            loaded = _load(entry.transform, f"run #{entry.run_id}", messages)
            if loaded is not None:
                transforms[transform_ref(entry.run_id)] = loaded
    for name, source in session.extra_transforms.items():
        loaded = _load(source, name, messages)
        if loaded is not None:
            transforms[name] = loaded
    if state.get("viewer"):
        model.viewer.restore(state["viewer"])
    if state.get("landmarks"):
        model.landmarks.restore(state["landmarks"])
    elif session.landmarks:
        ndim = len(next(p.fixed or p.moving for p in session.landmarks if (p.fixed or p.moving) is not None))
        model.landmarks.for_ndim(ndim).restore(
            {
                "pairs": [
                    {"name": p.name, "active": p.active, "fixed": p.fixed, "moving": p.moving}
                    for p in session.landmarks
                ]
            }
        )
    if state.get("overlays"):
        model.overlays.restore(state["overlays"])
    history = {
        "next_id": (state.get("history") or {}).get("next_id", 1),
        "runs": [_record_snapshot(entry) for entry in session.runs],
    }
    model.history.restore(history, transforms, (model.workspace.fixed, model.workspace.moving))
    model.notes = session.notes
    return messages
