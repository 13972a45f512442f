"""Start the Qt application and the main window (called by ``regviewer`` with no command)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from regviewer.core.errors import RegViewerError


def display_problem() -> str | None:
    """Why Qt could not open a window here, or None (Qt aborts the process instead of raising)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (
        sys.platform.startswith("linux")
        and not platform
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        return (
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset); run RegViewer on a desktop, or set "
            "QT_QPA_PLATFORM=offscreen for a headless check; 'regviewer --info' reports more"
        )
    return None


def application():
    """The QApplication (created once, named so that settings land in RegViewer's folder)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QApplication.setOrganizationName("RegViewer")
        QApplication.setApplicationName("RegViewer")
        QApplication.setDesktopFileName("regviewer")  # matches the installed regviewer.desktop (Wayland icon)
        app = QApplication(sys.argv[:1])
        from PySide6.QtGui import QIcon

        from regviewer import paths

        app.setWindowIcon(QIcon(str(paths.APP_ICON_PNG)))
    return app


def run_gui(
    fixed: str | Path | None = None,
    moving: str | Path | None = None,
    fixed_labels: str | Path | None = None,
    moving_labels: str | Path | None = None,
    transform: str | Path | None = None,
    demo: str | None = None,
    layout: str | None = None,
    system_info=None,  # noqa: ANN001
    session: str | Path | None = None,
    channel: str | None = None,
) -> int:
    """Open the main window (on a sample pair with ``demo`` = "2d" / "3d", or a saved ``session``) and run
    until it closes. After a crash the window first offers to recover the autosaved session."""
    problem = display_problem()
    if problem:
        raise RegViewerError(problem)
    app = application()
    from regviewer.gui.error_report import install_error_reporting
    from regviewer.gui.main_window import MainWindow
    from regviewer.logs import setup_logging

    setup_logging()
    window = MainWindow(system_info=system_info)
    install_error_reporting(window)
    if demo:
        window.open_sample(demo)
    else:
        window.load(
            fixed=fixed, moving=moving, fixed_labels=fixed_labels, moving_labels=moving_labels, transform=transform
        )
    if layout:
        window.set_layout(layout)
    if channel:
        window.run_dock.inputs.set_channel(channel)
    window.show()
    # Nobody can answer a question on an off-screen platform (CI, --smoke-test, scripts): the recovery
    # slots stay for the next interactive start.
    from PySide6.QtGui import QGuiApplication

    interactive = QGuiApplication.platformName() not in ("offscreen", "minimal")
    recovered = window.sessions.offer_recovery() if interactive else False
    if session and not recovered:
        window.sessions.open_session(session, interactive=True)
    return int(app.exec())
