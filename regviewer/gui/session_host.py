"""The main window as a ``SessionHost``: its model to a Session and back, and the events that mark it modified.

Saving takes ``session_from_model`` of the window's model objects. Opening reads the session's
images, shows them through ``MainWindow.load`` (so the views, the image information and the
workspace change together, as when a user opens files), then restores the view state, landmarks,
overlays and history (``restore_model``).

Changes that are work (images, transform, landmarks, runs, overlays, the landmark fit) mark the
session modified; view changes (cursor, zoom, window / level, layout) only feed the autosave, so
looking around never makes Quit ask a question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QIODevice

from regviewer.app.session_document import Session, SessionError
from regviewer.app.session_io import OpenedSession
from regviewer.app.session_model import (
    AppModel,
    current_transform,
    image_source,
    read_session_images,
    restore_model,
    session_from_model,
)

if TYPE_CHECKING:
    from regviewer.gui.main_window import MainWindow
    from regviewer.gui.session_actions import SessionActions

SHOWN_ROLES = ("fixed", "moving", "fixed_labels", "moving_labels")


class WindowSessionHost:
    """``SessionHost`` for the main window (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.notes = ""
        self._watched: set[int] = set()
        self._sessions: SessionActions | None = None

    def model(self) -> AppModel:
        window = self.window
        return AppModel(
            window.workspace, window.viewer, window.landmark_model, window.overlay_state, window.history, self.notes
        )

    # ---- SessionHost --------------------------------------------------------------------------
    def session_snapshot(self) -> Session:
        return session_from_model(self.model())

    def read_session(self, opened: OpenedSession) -> tuple:
        images, messages = read_session_images(opened)
        transform, problems = current_transform(opened)
        return images, transform, messages + problems

    def apply_session(self, opened: OpenedSession, content: object = None) -> None:
        window = self.window
        images, transform, messages = content if isinstance(content, tuple) else self.read_session(opened)
        shown = {role: image for role, image in images.items() if role in SHOWN_ROLES}
        if not window.load(replace_all=True, transform=transform, **shown):
            raise SessionError("the session's images could not be shown (see the previous message)")
        sources = {role: image_source(opened.session.images[role]) for role in shown}
        window.workspace.set_content(sources=sources)  # the files they came from, for the next save
        model = self.model()
        messages += restore_model(model, opened)
        window.grid.apply_state()  # the views take the restored modes, planes and ranges
        self.notes = model.notes
        self.watch_landmarks()
        if messages:
            window.show_error("Parts of the session could not be restored", "\n".join(messages))

    def clear_session(self) -> None:
        window = self.window
        window.load(replace_all=True)
        for landmarks in window.landmark_model.sets.values():
            landmarks.restore({"pairs": []})
        window.history.restore({"runs": []})
        self.notes = ""

    def show_error(self, title: str, message: str) -> bool:
        return self.window.show_error(title, message)

    def views_png(self) -> bytes | None:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not self.window.grid.grab().save(buffer, "PNG"):
            return None
        return bytes(buffer.data())

    # ---- events -------------------------------------------------------------------------------
    def connect(self, sessions: SessionActions) -> None:
        """Mark the session modified on work, and feed the autosave on view changes."""
        window = self.window
        self._sessions = sessions
        window.workspace.changed.connect(self._workspace_changed)
        window.history.added.connect(sessions.mark_modified)
        window.history.updated.connect(sessions.mark_modified)
        window.overlay_state.changed.connect(sessions.mark_modified)
        window.landmark_model.fit_changed.connect(sessions.mark_modified)
        for signal in (
            window.viewer.cursor_changed,
            window.viewer.range_changed,
            window.viewer.window_changed,
            window.viewer.options_changed,
            window.viewer.layout_changed,
        ):
            signal.connect(sessions.view_changed)
        self.watch_landmarks()

    def _workspace_changed(self, roles: tuple) -> None:
        self.watch_landmarks()  # images of a new dimension bring a new landmark set
        self._sessions.mark_modified()

    def watch_landmarks(self) -> None:
        for landmarks in self.window.landmark_model.sets.values():
            if id(landmarks) not in self._watched and self._sessions is not None:
                self._watched.add(id(landmarks))
                landmarks.changed.connect(self._sessions.mark_modified)


def image_names(window: MainWindow) -> str:
    scene = window.grid.scene
    return " / ".join(image.name for image in (scene.fixed, scene.moving) if image is not None and image.name)
