"""Errors in the window: one line in a dialog for the user, the full traceback in the log file.

``install_error_reporting(window)`` routes every exception nobody caught (in a slot, a timer, an
event handler or a Python thread) to the log (``regviewer.logs``) and to a one-line dialog on the
window ("Unexpected error: KeyError: 'x'. The details are in the log file: Help > Open Log Folder"),
instead of a raw traceback on a console the user never sees. ``open_log_folder()`` backs
Help > Open Log Folder.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from regviewer.logs import log_error, log_folder, one_line


def open_log_folder() -> bool:
    """Open the log folder in the system's file manager (created first, so that there is one to open)."""
    folder = log_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))


class _Relay(QObject):
    """Carries a message from any thread to the window's thread."""

    message = Signal(str)


def unexpected_message(error: BaseException) -> str:
    return f"Unexpected error: {one_line(error)}. The details are in the log file (Help > Open Log Folder)."


def install_error_reporting(window) -> None:
    """Send uncaught exceptions to the log and to ``window.show_error`` (one line); see the module docstring."""
    relay = _Relay(window)
    relay.message.connect(lambda text: window.show_error("Unexpected error", text))
    reporting = threading.local()

    def report(kind, value, traceback) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, traceback)
            return
        log_error(f"uncaught {one_line(value)}", (kind, value, traceback))
        if getattr(reporting, "busy", False):  # an error while showing the error: the log has it
            return
        reporting.busy = True
        try:
            relay.message.emit(unexpected_message(value))
        except RuntimeError:  # the window is gone
            pass
        finally:
            reporting.busy = False

    def thread_hook(arguments) -> None:
        report(arguments.exc_type, arguments.exc_value, arguments.exc_traceback)

    sys.excepthook = report
    threading.excepthook = thread_hook
