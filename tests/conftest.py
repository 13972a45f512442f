"""Shared pytest configuration and fixtures.

Qt must run without a display in tests: ``QT_QPA_PLATFORM=offscreen`` is set before anything can
create a QApplication.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test images: the repository's ``tests/data`` (see its SOURCES.md), or $REGVIEWER_SHARED_DATA.

    Fails (not skips) when it is missing: the tests that use real data must not pass silently.
    """
    configured = os.environ.get("REGVIEWER_SHARED_DATA")
    folder = Path(configured) if configured else TEST_DATA
    if not folder.is_dir():
        pytest.fail(
            f"test data not found at {folder}; set REGVIEWER_SHARED_DATA to a folder holding "
            "brain2d/, brain3d/, multimodal2d/ and prostate_cohort/ (see tests/data/SOURCES.md)"
        )
    return folder


@pytest.fixture(autouse=True)
def _recovery_folder_for_tests(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Autosaves of the windows tests open go to a temporary folder of each test, never to the user's recovery
    folder, and a slot one test leaves is never offered to the next."""
    monkeypatch.setenv("REGVIEWER_RECOVERY_DIR", str(tmp_path_factory.mktemp("recovery")))


@pytest.fixture(autouse=True)
def _delete_qt_widgets_after_each_test():
    """Delete every top-level Qt widget a test left behind, while the application still runs.

    Widgets left to Python's final garbage collection are destroyed in arbitrary order after
    QApplication is gone, which can crash the interpreter at exit (PySide6 refcount errors).
    """
    yield
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return
    import gc

    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    app.processEvents()
    gc.collect()


@pytest.fixture
def settings(tmp_path):
    """Window settings in a temporary INI file (recent files etc. never touch the user's settings)."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def errors(monkeypatch):
    """The texts of the error dialogs shown (QMessageBox.warning is recorded instead of shown)."""
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    return shown
