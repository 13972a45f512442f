"""The window's session commands: New / Open / Save / Save As / Recent, autosave, recovery, Export Result.

``SessionActions`` owns the session file of a window (its path and the modified mark in the title),
the autosave (app/recovery.py: a debounced writer thread fed from a GUI timer, so a landmark drag
never waits for the disk) and the questions asked on quit and after a crash. It knows the window's
state only through a ``SessionHost``: the window turns its model into a ``Session`` and back.

Scripts and tests call ``save_session(path)`` / ``open_session(path)`` (no questions asked; images
that are missing or changed are reported in one warning and kept in ``last_problems``); the menus
ask where to save, offer "Locate..." for moved images and ask before unsaved work is dropped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from regviewer.app.export import ExportResult, export_run
from regviewer.app.recovery import Autosaver, RecoveryStore
from regviewer.app.session_document import Session
from regviewer.app.session_images import ImageProblem, locate
from regviewer.app.session_io import OpenedSession, is_zip_path, open_session, save_session, session_name, session_path
from regviewer.core.errors import RegViewerError
from regviewer.gui.actions import add_action
from regviewer.gui.export_dialog import ExportDialog
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.session_dialogs import MissingImagesDialog, ask_recover, ask_unsaved

SESSION_FILTER = "RegViewer session folder (*.regviewer);;RegViewer session zip (*.regviewer.zip *.zip)"
# Opening: one filter first that shows both kinds (zip files, and session.json inside a folder session).
OPEN_FILTER = "RegViewer sessions (*.regviewer.zip *.zip session.json);;" + SESSION_FILTER + ";;All files (*)"
MAX_RECENT_SESSIONS = 8
AUTOSAVE_TICK_MS = 500


class SessionHost(Protocol):
    """What the session commands need from the window."""

    def session_snapshot(self) -> Session:
        """The window's state as a Session (cheap: no image hashing, no file access)."""

    def read_session(self, opened: OpenedSession) -> object:
        """Read what an opened session shows (its images, its transform): runs off the GUI thread, touches no
        widget; what it returns goes to ``apply_session``."""

    def apply_session(self, opened: OpenedSession, content: object = None) -> None:
        """Show an opened session (images that are missing stay empty); raise RegViewerError if impossible.
        ``content``: from ``read_session`` (None: read it now)."""

    def clear_session(self) -> None:
        """Drop everything (File > New Session)."""

    def show_error(self, title: str, message: str) -> bool: ...

    notes: str  # the session's free-text notes

    def views_png(self) -> bytes | None:
        """The view grid as PNG bytes, for the export's report."""


class SessionActions(QObject):
    """See the module docstring."""

    def __init__(
        self,
        window: QMainWindow,
        host: SessionHost,
        menu: QMenu,
        settings: QSettings,
        store: RecoveryStore | None = None,
    ) -> None:
        super().__init__(window)
        self.window, self.host, self.settings = window, host, settings
        self._shut_down = False
        self.path: Path | None = None
        self.modified = False
        self.last_problems: list[ImageProblem] = []
        self.last_export: ExportResult | None = None
        self.quitting = False
        self._suspended = 0
        self._names = ""
        self.store = store if store is not None else RecoveryStore()
        self.autosaver = Autosaver(self.store, on_error=self._autosave_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(AUTOSAVE_TICK_MS)
        self._timer.timeout.connect(self._autosave_tick)
        self._timer.start()
        self._export_job = BackgroundJob(self, latest_only=False, name="regviewer-export")
        self._export_job.finished.connect(self._export_done)
        self._open_job = BackgroundJob(self, latest_only=True, name="regviewer-open-session")
        self._open_job.finished.connect(self._session_read)
        self._opening: OpenedSession | None = None
        self._build_menu(menu)
        self.update_title()

    # ---- menu ---------------------------------------------------------------------------------
    def _build_menu(self, menu: QMenu) -> None:
        first = menu.actions()[0] if menu.actions() else None
        holder = QMenu(menu)  # build here, then move the actions to the top of the File menu
        add_action(holder, "&New Session", self.new_session_asking, QKeySequence.StandardKey.New, "newSessionAction")
        add_action(holder, "Open &Session...", self.open_dialog, "Ctrl+Shift+P", "openSessionAction")
        self.recent_menu = QMenu("Recent Sessions", menu)
        self.recent_menu.setObjectName("recentSessionsMenu")
        holder.addMenu(self.recent_menu)
        add_action(holder, "Sa&ve Session", self.save_asking, QKeySequence.StandardKey.Save, "saveSessionAction")
        add_action(holder, "Save Session &As...", self.save_as_dialog, None, "saveSessionAsAction")
        add_action(holder, "&Export Result...", lambda: self.export_dialog(), "Ctrl+E", "exportResultAction")
        add_action(holder, "Session &Notes...", self.notes_dialog, None, "sessionNotesAction")
        holder.addSeparator()
        for action in holder.actions():
            menu.insertAction(first, action)
        self._rebuild_recent()

    def recent_sessions(self) -> list[str]:
        entries = self.settings.value("recentSessions", []) or []
        return [entries] if isinstance(entries, str) else list(entries)

    def _remember(self, path: Path) -> None:
        entries = [str(path)] + [entry for entry in self.recent_sessions() if entry != str(path)]
        self.settings.setValue("recentSessions", entries[:MAX_RECENT_SESSIONS])
        self.settings.setValue("lastSessionFolder", str(path.parent))
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for entry in self.recent_sessions():
            add_action(self.recent_menu, entry, lambda p=entry: self.open_asking(p))
        self.recent_menu.setEnabled(bool(self.recent_sessions()))

    def _folder(self) -> str:
        """Where the session dialogs start: the last session folder, else the last image folder, but never
        inside the installed package (the bundled sample data), which may be read-only and is replaced
        on every update."""
        from regviewer.paths import RESOURCES

        folder = str(self.settings.value("lastSessionFolder", self.settings.value("lastFolder", str(Path.home()))))
        if Path(folder).resolve().is_relative_to(Path(RESOURCES).resolve()):
            return str(Path.home())
        return folder

    # ---- state --------------------------------------------------------------------------------
    def mark_modified(self, *_args: object) -> None:
        """Something in the model changed (connected to the model's events; cheap)."""
        if self._suspended:
            return
        if not self.modified:
            self.modified = True
            self.window.setWindowModified(True)
        self.autosaver.changed()

    def view_changed(self, *_args: object) -> None:
        """The view changed (cursor, zoom, window): saved by the autosave when there is work, never "modified"."""
        if self.modified and not self._suspended:
            self.autosaver.changed()

    def notes_dialog(self) -> bool:
        """File > Session Notes...: free text kept in the session (what was checked, by whom)."""
        from PySide6.QtWidgets import QInputDialog

        text, ok = QInputDialog.getMultiLineText(
            self.window, "Session notes", "Notes saved with the session:", self.host.notes
        )
        if ok and text != self.host.notes:
            self.host.notes = text
            self.mark_modified()
        return ok

    def set_image_names(self, names: str) -> None:
        """The names of the images shown (the title's fallback when the session has no file yet)."""
        self._names = names
        self.update_title()

    def update_title(self) -> None:
        if self.path is not None:
            title = f"{session_name(self.path)}[*] - RegViewer"
        else:
            title = f"RegViewer - {self._names}[*]" if self._names else "RegViewer[*]"
        self.window.setWindowTitle(title)
        self.window.setWindowModified(self.modified)

    def _set_clean(self, path: Path | None) -> None:
        self.path = path
        self.modified = False
        self.autosaver.clean()
        self.update_title()

    # ---- saving -------------------------------------------------------------------------------
    def save_session(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Save to ``path`` (default: the session's file); False after an error dialog."""
        target = Path(path) if path is not None else self.path
        if target is None:
            return self.host.show_error(
                "Cannot save the session", "the session has no file yet: use Save Session As..."
            )
        start = time.perf_counter()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = save_session(self.host.session_snapshot(), target)
        except RegViewerError as error:
            return self.host.show_error("Cannot save the session", str(error))
        except (OSError, ValueError, MemoryError) as error:
            return self.host.show_error("Cannot save the session", f"{target}: {type(error).__name__}: {error}")
        finally:
            QApplication.restoreOverrideCursor()
        self._set_clean(written)
        self._remember(written)
        self.window.statusBar().showMessage(f"Saved {written} ({time.perf_counter() - start:.1f} s)", 5000)
        return True

    def save_asking(self) -> bool:
        """File > Save Session: to the session's file, or ask for one."""
        return self.save_session() if self.path is not None else self.save_as_dialog()

    def save_as_dialog(self) -> bool:
        suggested = str(self.path) if self.path is not None else str(Path(self._folder()) / "session.regviewer")
        chosen, selected = QFileDialog.getSaveFileName(self.window, "Save session", suggested, SESSION_FILTER)
        if not chosen:
            return False
        kind = "zip" if "zip" in selected or is_zip_path(chosen) else "folder"
        return self.save_session(session_path(chosen, kind))

    # ---- opening ------------------------------------------------------------------------------
    def open_session(self, path: str | os.PathLike[str], interactive: bool = False) -> bool:
        """Open a session in the window (replacing what it shows); False after an error dialog.

        Missing or changed images are reported (``interactive``: with "Locate..." for each) and the
        rest of the session opens. ``interactive``: the images are read off the GUI thread (the window
        stays responsive and says so in the status bar); True then means the reading started.
        """
        try:
            opened = open_session(path)
        except RegViewerError as error:
            return self.host.show_error("Cannot open the session", str(error))
        if opened.problems and interactive:
            self._locate(opened)
        self.last_problems = list(opened.problems)
        if interactive:
            return self._read_in_background(opened)
        if not self._apply(opened):
            return False
        self._opened(opened)
        if opened.problems:
            self.host.show_error("Images not as saved", "\n".join(problem.message for problem in opened.problems))
        return True

    @property
    def opening(self) -> bool:
        """A session's images are being read (see ``open_session``)."""
        return self._opening is not None

    def _opened(self, opened: OpenedSession) -> None:
        self._set_clean(opened.path)
        self._remember(opened.path)

    def _read_in_background(self, opened: OpenedSession) -> bool:
        if self._opening is not None:
            return self.host.show_error("Cannot open the session", f"{self._opening.path.name} is still opening")
        self._opening = opened
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        self.window.statusBar().showMessage(f"Opening {session_name(opened.path)}: reading its images...")
        self._open_job.request(lambda: self.host.read_session(opened))
        return True

    def _session_read(self, content: object, error: str | None) -> None:
        opened, self._opening = self._opening, None
        QApplication.restoreOverrideCursor()
        self.window.statusBar().clearMessage()
        if opened is None or self._shut_down:
            return
        if error is not None:
            self.host.show_error("Cannot open the session", f"{opened.path}: {error}")
        elif self._apply(opened, content):
            self._opened(opened)

    def _locate(self, opened: OpenedSession) -> None:
        dialog = MissingImagesDialog(opened.problems, self._folder(), self.window)
        dialog.exec()
        notes = []
        for role, new_path in dialog.located.items():
            try:
                opened.session.images[role], warning = locate(opened.session.images[role], new_path)
            except RegViewerError as error:
                notes.append(str(error))
                continue
            opened.problems = [problem for problem in opened.problems if problem.role != role]
            if warning:
                notes.append(warning)
        if notes:
            self.host.show_error("Located images", "\n".join(notes))

    def _apply(self, opened: OpenedSession, content: object = None) -> bool:
        self._suspended += 1
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.host.apply_session(opened, content)
        except RegViewerError as error:
            return self.host.show_error("Cannot open the session", f"{opened.path}: {error}")
        finally:
            QApplication.restoreOverrideCursor()
            self._suspended -= 1
        return True

    def open_dialog(self) -> bool:
        if not self._may_drop_work():
            return False
        chosen, _ = QFileDialog.getOpenFileName(
            self.window,
            "Open session (a .regviewer folder: pick its session.json)",
            self._folder(),
            OPEN_FILTER,
        )
        if not chosen:
            return False
        path = Path(chosen)
        return self.open_session(path.parent if path.name == "session.json" else path, interactive=True)

    def open_asking(self, path: str) -> bool:
        return self._may_drop_work() and self.open_session(path, interactive=True)

    def new_session_asking(self) -> bool:
        if not self._may_drop_work():
            return False
        self.new_session()
        return True

    def new_session(self) -> None:
        """Drop everything shown (no question: see ``new_session_asking``)."""
        self._suspended += 1
        try:
            self.host.clear_session()
        finally:
            self._suspended -= 1
        self._set_clean(None)

    # ---- unsaved work -------------------------------------------------------------------------
    def _may_drop_work(self, ask: Callable[[QWidget, str], str] | None = None) -> bool:
        """True when nothing unsaved would be lost, or the user saved or discarded it."""
        if not self.modified:
            return True
        answer = (ask or ask_unsaved)(self.window, session_name(self.path) if self.path else "this session")
        if answer == "save":
            return self.save_asking()
        return answer == "discard"

    def request_quit(self) -> None:
        """File > Quit: close the window, asking about unsaved work (see ``MainWindow.closeEvent``)."""
        self.quitting = True
        try:
            self.window.close()
        finally:
            self.quitting = False

    def confirm_close(self, ask: Callable[[QWidget, str], str] | None = None) -> bool:
        """Ask Save / Discard / Cancel when there is unsaved work; True when the window may close."""
        if not self._may_drop_work(ask):
            return False
        self.shutdown(keep_recovery=False)
        return True

    def shutdown(self, keep_recovery: bool) -> None:
        """Stop the autosave; the recovery slot is removed unless ``keep_recovery`` (unsaved work).
        Only the first call acts (a script or test may shut down before the window closes)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._timer.stop()
        if keep_recovery and self.modified:
            self.autosaver.submit(
                self.host.session_snapshot(), self._recovery_title(), str(self.path) if self.path else None
            )
            self.autosaver.flush()
        else:
            self.autosaver.clean()
        self.autosaver.close()

    # ---- autosave and recovery ------------------------------------------------------------------
    def _recovery_title(self) -> str:
        return session_name(self.path) if self.path is not None else (self._names or "unsaved session")

    def _autosave_tick(self) -> None:
        self.autosaver.run_pending(
            lambda: (self.host.session_snapshot(), self._recovery_title(), str(self.path) if self.path else None)
        )

    def _autosave_failed(self, error: Exception) -> None:
        message = f"Autosave failed: {error}"
        QTimer.singleShot(0, self.window, lambda: self.window.statusBar().showMessage(message, 10000))

    def offer_recovery(self, ask: Callable | None = None) -> bool:
        """After a crash: "Recover the session from <time>?"; True when a session was recovered."""
        found = self.store.recoverable()
        if not found:
            return False
        newest = found[0]
        answer = (ask or ask_recover)(self.window, newest, len(found) - 1)
        if answer == "discard":
            self.store.forget(newest)
            return False
        if answer != "recover":
            return False
        try:
            opened = RecoveryStore.open(newest)
        except RegViewerError as error:
            return self.host.show_error("Cannot recover the session", str(error))
        self.last_problems = list(opened.problems)
        if not self._apply(opened):
            return False
        original = Path(newest.session_path) if newest.session_path else None
        self.path = original
        self.modified = False
        self.mark_modified()  # recovered work is not in any session file yet
        self.update_title()
        self.autosaver.submit(self.host.session_snapshot(), self._recovery_title(), newest.session_path)
        self.autosaver.flush()  # this window's own autosave holds the work before the old one goes
        self.store.forget(newest)
        if opened.problems:
            self.host.show_error("Images not as saved", "\n".join(problem.message for problem in opened.problems))
        return True

    # ---- export -------------------------------------------------------------------------------
    def exportable_runs(self, session: Session) -> list[tuple[int, str]]:
        return [
            (entry.run_id, f"#{entry.run_id}  {entry.title}  ({entry.status})")
            for entry in session.runs
            if entry.status in ("completed", "cancelled") and entry.transform is not None
        ]

    def export_dialog(self, run_id: int | None = None) -> bool:
        """File > Export Result... (and the History's right-click menu, with its run)."""
        session = self.host.session_snapshot()
        runs = self.exportable_runs(session)
        if not runs:
            return self.host.show_error("Nothing to export", "no finished run yet: run a registration first")
        current = run_id if run_id is not None else session.current_run
        default = (
            Path(self._folder())
            / f"{session_name(self.path) if self.path else 'regviewer'}-run{current or runs[-1][0]}"
        )
        dialog = ExportDialog(runs, current if current is not None else runs[-1][0], str(default), self.window)
        if dialog.exec() != ExportDialog.DialogCode.Accepted or not dialog.folder():
            return False
        self.export_result(dialog.run_id(), dialog.folder(), background=True)
        return True

    def export_result(self, run_id: int | None, folder: str | os.PathLike[str], background: bool = False) -> bool:
        """Write a run's results in the CLI's OUT layout (``background``: off the GUI thread)."""
        session = self.host.session_snapshot()
        picture = self.host.views_png()
        protect = [self.path] if self.path is not None else []

        def work() -> ExportResult:
            return export_run(session, folder, run_id, view_png=picture, protect=protect)

        if background:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
            self.window.statusBar().showMessage(f"Exporting to {folder} ...")
            self._export_job.request(work)
            return True
        try:
            self.last_export = work()
        except RegViewerError as error:
            return self.host.show_error("Cannot export", str(error))
        self.window.statusBar().showMessage(
            f"Exported {len(self.last_export.files)} files to {self.last_export.folder}", 8000
        )
        return True

    def _export_done(self, result: ExportResult | None, error: str | None) -> None:
        QApplication.restoreOverrideCursor()
        self.window.statusBar().clearMessage()
        if error is not None:
            self.host.show_error("Cannot export", error)
            return
        self.last_export = result
        QMessageBox.information(
            self.window,
            "Export finished",
            f"Wrote {len(result.files)} files to {result.folder}:\n" + ", ".join(result.files.values()),
        )

    def attach_history_menu(self, list_widget: QWidget, run_id_at: Callable[[object], int | None]) -> None:
        """A right-click menu on the History list: "Export Result..." for the run under the mouse."""
        list_widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        def show_menu(position) -> None:  # noqa: ANN001
            run_id = run_id_at(position)
            if run_id is None:
                return
            menu = QMenu(list_widget)
            add_action(
                menu, f"Export Result of Run #{run_id}...", lambda: self.export_dialog(run_id), None, "exportRunAction"
            )
            menu.exec(list_widget.mapToGlobal(position))

        list_widget.customContextMenuRequested.connect(show_menu)
