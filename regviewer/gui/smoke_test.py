"""``regviewer --smoke-test``: open the bundled demo, paint the window once, report and exit.

What an installer's CI (and a user checking a fresh install) runs to know that the installed app starts:
Qt loads its platform plugin, the bundled sample data and colour tables are found, the views draw the images.
It works off-screen (``QT_QPA_PLATFORM=offscreen``) and never touches the user's settings or recent files.
Exit status 0 when the painted window shows the images, 1 (with a one-line reason on stderr) otherwise.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

# Painted views of the demo show brain tissue: a large share of mid-grey pixels. Empty views are black
# under light title bars (a fraction of a percent of mid-grey pixels from text edges and crosshairs).
MIN_TISSUE_SHARE = 0.05
MID_GREY = (30, 220)


def tissue_share(image) -> float:  # noqa: ANN001  (a QImage)
    """Share of mid-grey pixels (luminance strictly inside MID_GREY) in ``image``, a QImage of the grabbed views."""
    import numpy as np
    from PySide6.QtGui import QImage

    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = grey.width(), grey.height()
    if width == 0 or height == 0:
        return 0.0
    buffer = np.frombuffer(grey.constBits(), dtype=np.uint8, count=grey.bytesPerLine() * height)
    pixels = buffer.reshape(height, grey.bytesPerLine())[:, :width]
    return float(np.mean((pixels > MID_GREY[0]) & (pixels < MID_GREY[1])))


def _wait_for_background_work(app, timeout_s: float = 60.0) -> list[str]:  # noqa: ANN001
    """Let the window's background jobs (e.g. the overlay statistics) finish; the names of those still running.

    A daemon thread still inside native code (SimpleITK) when the interpreter shuts down is stopped by
    ``pthread_exit``, which aborts a frozen app ("FATAL: exception not rethrown"): the check waits instead.
    """
    import threading

    def running() -> list[threading.Thread]:
        return [
            thread
            for thread in threading.enumerate()
            if thread is not threading.main_thread()
            and thread.is_alive()
            and not isinstance(thread, threading._DummyThread)  # type: ignore[attr-defined]
        ]

    # enumerate anew on each pass: a job that ends may start the next one in a new thread (BackgroundJob's queue)
    deadline = time.monotonic() + timeout_s
    while (threads := running()) and time.monotonic() < deadline:
        threads[0].join(timeout=0.05)
        app.processEvents()
    return [thread.name for thread in running()]


def run_smoke_test(demo: str = "3d", screenshot: str | Path | None = None) -> int:
    """Open the ``demo`` sample pair in the main window, paint it, check the pixels; 0 when it worked."""
    started = time.perf_counter()
    from regviewer.gui.app import application, display_problem

    problem = display_problem()
    if problem:
        print(f"regviewer: smoke test failed: {problem}", file=sys.stderr)
        return 1
    app = application()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from regviewer.gui.main_window import MainWindow

    errors: list[str] = []
    # A failure would open a modal dialog and wait for a click that never comes: record it instead.
    warning = QMessageBox.warning
    QMessageBox.warning = lambda parent, title, text, *args, **kwargs: errors.append(f"{title}: {text}")  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="regviewer-smoke-") as folder:
            settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings=settings)
            opened = window.open_sample(demo)
            window.resize(1280, 860)
            window.show()
            for _ in range(5):
                app.processEvents()
            image = window.grab().toImage()
            painted_s = time.perf_counter() - started
            share = tissue_share(window.grid.grab().toImage())
            # the session's autosave writer is a thread of the window's life: stop it (and leave no
            # recovery slot in the user's folder) before waiting for the background jobs
            window.sessions.shutdown(keep_recovery=False)
            unfinished = _wait_for_background_work(app)
            if screenshot:
                image.save(str(screenshot))
            window.close()
            window.deleteLater()
            app.processEvents()
            del settings
    finally:
        QMessageBox.warning = warning  # type: ignore[method-assign]
    if not opened or errors:
        print(
            f"regviewer: smoke test failed: the demo did not open: {'; '.join(errors) or 'no reason given'}",
            file=sys.stderr,
        )
        return 1
    if unfinished:
        print(
            f"regviewer: smoke test failed: background work still running after 60 s: {', '.join(unfinished)}",
            file=sys.stderr,
        )
        return 1
    if image.isNull() or share < MIN_TISSUE_SHARE:
        print(
            f"regviewer: smoke test failed: the views show no images ({share:.1%} of their pixels mid-grey, "
            f"expected at least {MIN_TISSUE_SHARE:.0%})",
            file=sys.stderr,
        )
        return 1
    print(
        f"smoke test ok: demo {demo} painted {image.width()}x{image.height()} ({share:.0%} of the views' pixels image, "
        f"Qt platform {app.platformName()}) in {painted_s:.2f} s after the GUI modules started loading"
    )
    return 0
