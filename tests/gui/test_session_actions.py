"""Session commands on a minimal host window: title, modified mark, save / open, questions, recovery, export."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from regviewer.app.recovery import RecoveryStore
from regviewer.app.session_document import LandmarkPair, RunEntry, Session
from regviewer.app.session_images import image_ref
from regviewer.app.session_io import OpenedSession
from regviewer.core.transforms import AffineTransform
from regviewer.gui.session_actions import SessionActions
from regviewer.paths import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "brain3d"


class Host(QMainWindow):
    """A window whose whole state is one Session (what MainWindow does with its model)."""

    def __init__(self, tmp: Path) -> None:
        super().__init__()
        self.state = Session()
        self.errors: list[str] = []
        self.settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
        self.file_menu = self.menuBar().addMenu("&File")
        self.file_menu.addAction("Quit")
        self.sessions = SessionActions(self, self, self.file_menu, self.settings, RecoveryStore(tmp / "recovery"))

    @property
    def notes(self) -> str:
        return self.state.notes

    @notes.setter
    def notes(self, text: str) -> None:
        self.state.notes = text

    def session_snapshot(self) -> Session:
        return Session(
            images=dict(self.state.images),
            landmarks=list(self.state.landmarks),
            runs=list(self.state.runs),
            current_transform=self.state.current_transform,
            notes=self.state.notes,
        )

    def read_session(self, opened: OpenedSession) -> object:
        return None

    def apply_session(self, opened: OpenedSession, content: object = None) -> None:
        self.state = opened.session
        self.sessions.mark_modified()  # applying fires model events: they must not mark the session modified

    def clear_session(self) -> None:
        self.state = Session()

    def show_error(self, title: str, message: str) -> bool:
        self.errors.append(message)
        return False

    def views_png(self) -> bytes | None:
        return None

    def add_landmark(self, name: str) -> None:
        self.state.landmarks.append(LandmarkPair(name, (1.0, 2.0, 3.0), None))
        self.sessions.mark_modified()


@pytest.fixture
def host(qtbot, tmp_path: Path) -> Host:
    window = Host(tmp_path)
    qtbot.addWidget(window)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("fixed.nii.gz", "moving.nii.gz"):
        shutil.copy(SAMPLE / name, data / name)
    window.state.images = {"fixed": image_ref(data / "fixed.nii.gz"), "moving": image_ref(data / "moving.nii.gz")}
    window.state.runs = [
        RunEntry(
            1,
            "rigid",
            "completed",
            {"method": "rigid"},
            transform=AffineTransform(np.eye(3), np.array([1.0, 0.0, 0.0])),
        )
    ]
    yield window
    window.sessions.shutdown(keep_recovery=False)


def test_menu_title_and_modified_mark(host: Host, tmp_path: Path) -> None:
    names = [action.objectName() for action in host.file_menu.actions()]
    assert names[:7] == [
        "newSessionAction",
        "openSessionAction",
        "",
        "saveSessionAction",
        "saveSessionAsAction",
        "exportResultAction",
        "sessionNotesAction",
    ]
    host.sessions.set_image_names("fixed / moving")
    assert host.windowTitle() == "RegViewer - fixed / moving[*]" and not host.isWindowModified()
    host.add_landmark("a")
    assert host.isWindowModified()
    assert host.sessions.save_session(tmp_path / "study.regviewer")
    assert host.windowTitle() == "study[*] - RegViewer" and not host.isWindowModified()
    assert host.sessions.recent_sessions() == [str(tmp_path / "study.regviewer")]


def test_save_then_open_in_a_fresh_window(host: Host, tmp_path: Path, qtbot) -> None:
    host.add_landmark("a")
    host.state.notes = "fine"
    assert host.sessions.save_session(tmp_path / "study.regviewer.zip")
    fresh = Host(tmp_path / "data")
    qtbot.addWidget(fresh)
    try:
        assert fresh.sessions.open_session(tmp_path / "study.regviewer.zip")
        assert fresh.state.landmarks == host.state.landmarks and fresh.state.notes == "fine"
        assert not fresh.isWindowModified() and fresh.windowTitle() == "study[*] - RegViewer"
        (tmp_path / "data" / "moving.nii.gz").unlink()
        assert fresh.sessions.open_session(tmp_path / "study.regviewer.zip")  # opens, and says what is missing
        assert fresh.errors and "moving image not found at" in fresh.errors[-1]
        assert [problem.role for problem in fresh.sessions.last_problems] == ["moving"]
        assert len(fresh.state.runs) == 1
        assert not fresh.sessions.open_session(tmp_path / "nothing.regviewer")
        assert "no such session" in fresh.errors[-1]
    finally:
        fresh.sessions.shutdown(keep_recovery=False)


def test_open_dialog_shows_zip_and_folder_sessions_under_its_first_filter(
    host: Host, tmp_path: Path, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert host.sessions.save_session(tmp_path / "study.regviewer.zip")
    asked: list[str] = []

    def pick(parent, caption, folder, filters):  # noqa: ANN001
        asked.append(filters)
        return str(tmp_path / "study.regviewer.zip"), filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", pick)
    fresh = Host(tmp_path / "other")
    qtbot.addWidget(fresh)
    try:
        assert fresh.sessions.open_dialog()
        first = asked[0].split(";;")[0]
        assert "*.regviewer.zip" in first and "session.json" in first
        qtbot.waitUntil(lambda: not fresh.sessions.opening, timeout=10000)
        assert fresh.windowTitle() == "study[*] - RegViewer"
    finally:
        fresh.sessions.shutdown(keep_recovery=False)


def test_unsaved_work_asks_save_discard_cancel(host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert host.sessions.confirm_close(ask=lambda *a: pytest.fail("nothing to save: no question"))
    host.sessions = SessionActions(host, host, host.file_menu, host.settings, RecoveryStore(tmp_path / "r2"))
    host.add_landmark("a")
    assert not host.sessions.confirm_close(ask=lambda *a: "cancel")
    asked = []
    monkeypatch.setattr(
        "regviewer.gui.session_actions.QFileDialog.getSaveFileName",
        lambda *a, **k: (str(tmp_path / "chosen"), "RegViewer session folder (*.regviewer)"),
    )
    assert host.sessions.confirm_close(ask=lambda window, name: asked.append(name) or "save")
    assert asked == ["this session"] and (tmp_path / "chosen.regviewer" / "session.json").is_file()


def test_autosave_and_recovery_in_the_next_window(host: Host, tmp_path: Path, qtbot) -> None:
    host.add_landmark("placed before the crash")
    qtbot.waitUntil(lambda: host.sessions.autosaver.writes >= 1, timeout=8000)
    host.sessions._timer.stop()
    # simulate a crash: the writer thread stops, the slot stays locked until the lock is released
    host.sessions.autosaver.close()
    host.sessions.store._lock.release()
    later = Host(tmp_path)
    qtbot.addWidget(later)
    try:
        asked = []
        assert later.sessions.offer_recovery(
            ask=lambda window, found, others: asked.append(found.describe()) or "recover"
        )
        assert "RegViewer - " not in asked[0] and "autosaved" in asked[0]
        assert [pair.name for pair in later.state.landmarks] == ["placed before the crash"]
        assert later.isWindowModified()  # recovered work is not saved anywhere yet
        assert [item.slot for item in RecoveryStore(tmp_path / "recovery").recoverable()] == []
    finally:
        later.sessions.shutdown(keep_recovery=False)


def test_export_from_the_window(host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert host.sessions.export_result(1, tmp_path / "out")
    assert {"warped.nii.gz", "transform.tfm", "metrics.json", "report.html"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }
    assert not host.sessions.export_result(5, tmp_path / "other")
    assert host.errors[-1] == "the session has no run #5 (runs: #1)" and not (tmp_path / "other").exists()


def test_dialogs_are_answered_by_their_buttons(host: Host, qtbot) -> None:
    from regviewer.gui.session_dialogs import unsaved_box

    box = unsaved_box(host, "study")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Save)
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.Cancel)
