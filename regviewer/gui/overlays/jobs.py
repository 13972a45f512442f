"""One background computation at a time, with the latest request winning (whole-volume statistics).

``BackgroundJob.request(function)`` runs ``function`` in a Python thread (numpy, scipy and SimpleITK
release the interpreter lock in their loops, so the GUI stays responsive) and emits ``finished``
with its result on the GUI thread. A request made while one runs waits for it and replaces any
earlier waiting request: after a burst of transform changes only the last one is computed.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, Signal

from regviewer.core.errors import RegViewerError


class BackgroundJob(QObject):
    """Runs the latest requested function off the GUI thread; see the module docstring."""

    finished = Signal(object, object)  # result, error message (str) or None
    _done = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._running = False
        self._waiting: Callable[[], object] | None = None
        self._done.connect(self._finish)

    @property
    def busy(self) -> bool:
        return self._running or self._waiting is not None

    def request(self, function: Callable[[], object]) -> None:
        if self._running:
            self._waiting = function
            return
        self._start(function)

    def cancel_pending(self) -> None:
        """Forget a waiting request and ignore the result of the running one."""
        self._waiting = None
        self._generation += 1

    def _start(self, function: Callable[[], object]) -> None:
        self._generation += 1
        self._running = True
        thread = threading.Thread(target=self._run, args=(self._generation, function), daemon=True,
                                  name="regviewer-overlay-stats")
        thread.start()

    def _run(self, generation: int, function: Callable[[], object]) -> None:
        try:
            result, error = function(), None
        except RegViewerError as exc:
            result, error = None, str(exc)
        except (ValueError, RuntimeError, MemoryError, OSError) as exc:
            result, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self._done.emit(generation, result, error)
        except RuntimeError:  # the owner was deleted while this ran (window closed)
            pass

    def _finish(self, generation: int, result: object, error: object) -> None:
        self._running = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._start(waiting)
            return
        if generation == self._generation:
            self.finished.emit(result, error)
