"""Every failure ends its job and reaches the user in one line; the log file keeps the traceback."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QApplication

from regviewer import logs, paths
from regviewer.gui.error_report import install_error_reporting
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.main_window import MainWindow


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    folder = tmp_path / "logs"
    monkeypatch.setenv("REGVIEWER_LOG_DIR", str(folder))
    assert logs.setup_logging() == folder / logs.LOG_NAME
    yield folder
    logs.stop_logging()


def _log_text(folder) -> str:
    for handler in logs.logger.handlers:
        handler.flush()
    return (folder / logs.LOG_NAME).read_text(encoding="utf-8")


def _bad_lookup():
    return {"spacing": 1}["origin"]  # a bug: KeyError, outside the expected failures


def test_a_key_error_ends_the_job_reports_one_line_and_logs_the_traceback(qtbot, log_dir):
    job = BackgroundJob(latest_only=False)
    reports = []
    job.finished.connect(lambda result, error: reports.append((result, error)))
    job.request(_bad_lookup)
    job.request(lambda: 42)  # queued behind the failing one: must still run
    qtbot.waitUntil(lambda: len(reports) == 2, timeout=5000)
    assert not job.busy
    (result, error), second = reports
    assert result is None and "KeyError: 'origin'" in error and "\n" not in error
    assert second == (42, None)
    text = _log_text(log_dir)
    assert "Traceback" in text and "_bad_lookup" in text and "KeyError: 'origin'" in text
    job.request(lambda: 7)  # and the job keeps working
    qtbot.waitUntil(lambda: len(reports) == 3, timeout=5000)
    assert reports[-1] == (7, None)


def test_a_reader_bug_clears_the_busy_cursor_and_shows_a_dialog(qtbot, settings, errors, monkeypatch, log_dir):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    monkeypatch.setattr(window, "_read", lambda role, path: _bad_lookup())
    window.load_in_background(fixed=paths.SAMPLE_3D_FIXED)
    assert QApplication.overrideCursor() is not None
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert "KeyError: 'origin'" in errors[0]
    assert QApplication.overrideCursor() is None and not window._reader.busy
    monkeypatch.undo()
    monkeypatch.setenv("REGVIEWER_LOG_DIR", str(log_dir))
    window.load_in_background(fixed=paths.SAMPLE_3D_FIXED)  # the next request is read and shown
    qtbot.waitUntil(lambda: window.grid.scene.fixed is not None, timeout=10000)
    assert len(errors) == 1


@pytest.mark.qt_no_exception_capture
def test_uncaught_exceptions_go_to_the_log_and_a_one_line_dialog(qtbot, settings, errors, log_dir, monkeypatch):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    import threading

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_error_reporting(window)
    try:
        _bad_lookup()
    except KeyError:
        sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert errors[0].startswith("Unexpected error: KeyError: 'origin'") and "\n" not in errors[0]
    assert "Open Log Folder" in errors[0]
    thread = threading.Thread(target=_bad_lookup)  # an error in a Python thread reaches the window too
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=5000)
    text = _log_text(log_dir)
    assert text.count("Traceback") >= 2 and "uncaught KeyError: 'origin'" in text


def test_help_open_log_folder_opens_the_log_folder(qtbot, settings, log_dir, monkeypatch):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    action = window.findChild(QAction, "openLogFolderAction")
    help_action = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == "Help")
    assert action in help_action.menu().actions()
    action.trigger()
    assert opened == [str(log_dir)]


def test_an_unwritable_log_folder_leaves_logging_off_without_raising(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert logs.setup_logging(blocker / "logs") is None
    assert logs.log_file() is None
    logs.log_error("still fine")  # never raises


def test_a_bug_in_the_overlay_figures_gets_a_dialog_and_the_next_transform_works(
    qtbot, settings, errors, monkeypatch, log_dir
):
    from regviewer.gui.overlays import controller as overlay_controller

    real = overlay_controller.deformation_summary
    monkeypatch.setattr(overlay_controller, "deformation_summary", lambda *a, **k: _bad_lookup())
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.open_sample("3d")
    assert window.overlays.wait_for_volume(30)  # the job ended: not busy for good
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert errors[0].startswith("Unexpected error: KeyError: 'origin'")
    assert "Cannot compute" in window.overlay_panel.stats_label.text()
    monkeypatch.setattr(overlay_controller, "deformation_summary", real)
    assert window.set_transform(None)
    window.grid.transformChanged.emit(False)
    assert window.overlays.wait_for_volume(30)
    qtbot.waitUntil(lambda: window.overlays.summary is not None, timeout=5000)
    assert len(errors) == 1 and window.overlays.error == ""
