"""Qt and OpenGL facts for ``regviewer --info``, gathered in a child process.

Qt aborts the whole process when its platform plugin cannot start (no display, missing xcb
libraries), and a broken OpenGL driver can crash on the first call, so ``regviewer.cli.info`` runs
``python -m regviewer.gui.probe`` with a timeout and reports whatever it printed, or why it died.
The child prints one line: a JSON object of plain strings. Every step is guarded: a failing step
reports ``unavailable: <reason>`` and the next step still runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

GL_VENDOR, GL_RENDERER, GL_VERSION = 0x1F00, 0x1F01, 0x1F02


def _guarded(info: dict[str, str], key: str, read: Callable[[], str]) -> None:
    """``info[key] = read()``, or ``unavailable: <reason>`` when it raises."""
    try:
        info[key] = read()
    except Exception as error:  # a probe reports, it never stops
        info[key] = f"unavailable: {type(error).__name__}: {error}"


def _gl_string(functions: object, name: int) -> str:
    value = functions.glGetString(name)  # type: ignore[attr-defined]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value) if value else "unavailable: empty answer"


def opengl_info() -> dict[str, str]:
    """Whether a QOpenGLContext can be made current on a QOffscreenSurface, and what it reports."""
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return {"opengl": "unavailable: QOpenGLContext.create() failed (no usable OpenGL for this Qt platform)"}
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not surface.isValid():
        return {"opengl": "unavailable: QOffscreenSurface could not be created"}
    if not context.makeCurrent(surface):
        return {"opengl": "unavailable: the OpenGL context could not be made current"}
    info: dict[str, str] = {}
    try:
        functions = context.functions()
        fmt = context.format()
        info["opengl"] = (
            f"available (context {fmt.majorVersion()}.{fmt.minorVersion()}, {'OpenGL ES' if context.isOpenGLES() else 'desktop OpenGL'})"
        )
        _guarded(info, "opengl vendor", lambda: _gl_string(functions, GL_VENDOR))
        _guarded(info, "opengl renderer", lambda: _gl_string(functions, GL_RENDERER))
        _guarded(info, "opengl version", lambda: _gl_string(functions, GL_VERSION))
    finally:
        context.doneCurrent()
    return info


def _screens(app: object) -> str:
    parts = []
    for screen in app.screens():  # type: ignore[attr-defined]
        size = screen.size()
        parts.append(
            f"{screen.name() or 'unnamed'} {size.width()}x{size.height()} "
            f"(logical DPI {screen.logicalDotsPerInch():.0f}, physical DPI {screen.physicalDotsPerInch():.0f}, "
            f"device pixel ratio {screen.devicePixelRatio():g})"
        )
    return "; ".join(parts) or "none"


def probe() -> dict[str, str]:
    """Start a QGuiApplication and describe Qt, the platform plugin, the screens and OpenGL."""
    info: dict[str, str] = {}
    import PySide6
    from PySide6 import QtCore

    info["pyside6"] = PySide6.__version__
    info["qt"] = f"{QtCore.qVersion()} (built with {QtCore.__version__})"
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    requested = os.environ.get("QT_QPA_PLATFORM")
    info["qt platform plugin"] = f"{app.platformName()} ({'QT_QPA_PLATFORM=' + requested if requested else 'default'})"
    _guarded(info, "screens", lambda: _screens(app))
    try:
        info.update(opengl_info())
    except Exception as error:
        info["opengl"] = f"unavailable: {type(error).__name__}: {error}"
    return info


def main() -> int:
    """Print :func:`probe` as one JSON line (what the parent process parses)."""
    try:
        info = probe()
    except Exception as error:
        info = {"qt": f"unavailable: {type(error).__name__}: {error}"}
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
