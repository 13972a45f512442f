"""RegViewer's log file: one rotating file in the user log folder, with the full traceback of every error.

The window shows errors as one line in a dialog; the details a bug report needs (the traceback, the
versions) go to ``regviewer.log`` in the user log folder (platformdirs: ``~/.local/state/RegViewer/log``
on Linux, ``~/Library/Logs/RegViewer`` on macOS, ``%LOCALAPPDATA%\\RegViewer\\RegViewer\\Logs`` on
Windows; ``$REGVIEWER_LOG_DIR`` overrides it). Help > Open Log Folder opens that folder.

``setup_logging()`` attaches the file to the "regviewer" logger once (every ``regviewer.*`` logger
writes to it); ``log_error(message)`` records a one-line message with the traceback of the exception
being handled, if any. Logging never raises: a folder that cannot be written leaves the log off.
Qt-free, so the command line can use it too.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

LOG_NAME = "regviewer.log"
MAX_BYTES = 1_000_000  # per file; with BACKUPS older files the log stays under 4 MB
BACKUPS = 3
logger = logging.getLogger("regviewer")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def log_folder() -> Path:
    """The folder of the log file (created by ``setup_logging``, not here)."""
    configured = os.environ.get("REGVIEWER_LOG_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("RegViewer", "RegViewer"))


def _file_handler() -> RotatingFileHandler | None:
    return next(
        (h for h in logger.handlers if isinstance(h, RotatingFileHandler) and getattr(h, "_regviewer", False)), None
    )


def log_file() -> Path | None:
    """The log file being written, or None when logging to a file is off."""
    handler = _file_handler()
    return Path(handler.baseFilename) if handler is not None else None


def setup_logging(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """Write the "regviewer" logger to ``folder/regviewer.log`` (rotating); returns the file or None.

    Calling it again with another folder moves the log there (tests); with the same folder it does nothing.
    """
    target = Path(folder) if folder is not None else log_folder()
    current = _file_handler()
    if current is not None:
        if Path(current.baseFilename).parent == Path(os.path.abspath(target)):
            return Path(current.baseFilename)
        stop_logging()
    try:
        target.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(target / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as error:
        logger.warning("cannot write the log file in %s (%s); logging to the console only", target, error)
        return None
    handler._regviewer = True  # type: ignore[attr-defined]  (to find our handler among others)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    from regviewer import __version__

    logger.info("RegViewer %s started (Python %s on %s)", __version__, sys.version.split()[0], sys.platform)
    return Path(handler.baseFilename)


def stop_logging() -> None:
    """Detach and close the log file (the next ``setup_logging`` opens one again)."""
    handler = _file_handler()
    if handler is not None:
        logger.removeHandler(handler)
        handler.close()


def log_error(message: str, exc_info: ExcInfo | None = None) -> None:
    """Record an error shown to the user, with the traceback of ``exc_info`` or of the exception being handled."""
    if exc_info is None:
        current = sys.exc_info()
        exc_info = current if current[0] is not None else None
    logger.error(message, exc_info=exc_info)


def one_line(error: BaseException) -> str:
    """A one-line description of an unexpected exception, for a dialog ("KeyError: 'spacing'")."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
