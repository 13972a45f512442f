"""Work off the GUI thread, with the result delivered back on the GUI thread.

``BackgroundJob.request(function)`` runs ``function`` in a Python thread (numpy, scipy, nibabel and
SimpleITK release the interpreter lock in their loops, so the window stays responsive) and emits
``finished(result, error)`` on the GUI thread; ``error`` is a one-line message for the expected
failures (bad input, out of memory, unreadable files), else None. One function runs at a time.

- ``latest_only=True`` (whole-volume statistics): a request made while one runs replaces any earlier
  waiting request, and the running one's result is dropped: after a burst of transform changes only
  the last one is computed and reported.
- ``latest_only=False`` (reading files the user opened): requests run in order and every result is
  reported.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from regviewer.core.errors import RegViewerError


class BackgroundJob(QObject):
    """Runs requested functions off the GUI thread; see the module docstring."""

    finished = Signal(object, object)  # result, error message (str) or None
    _done = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None, latest_only: bool = True, name: str = "regviewer-job") -> None:
        super().__init__(parent)
        self.latest_only = latest_only
        self._name = name
        self._generation = 0
        self._running = False
        self._queue: deque[Callable[[], object]] = deque()
        self._done.connect(self._finish)

    @property
    def busy(self) -> bool:
        return self._running or bool(self._queue)

    def request(self, function: Callable[[], object]) -> None:
        if self._running:
            if self.latest_only:
                self._queue.clear()
            self._queue.append(function)
            return
        self._start(function)

    def cancel_pending(self) -> None:
        """Forget waiting requests and ignore the result of the running one."""
        self._queue.clear()
        self._generation += 1

    def _start(self, function: Callable[[], object]) -> None:
        self._generation += 1
        self._running = True
        thread = threading.Thread(target=self._run, args=(self._generation, function), daemon=True, name=self._name)
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
        current = generation == self._generation
        if self._queue:
            self._start(self._queue.popleft())  # first, so that a request made by a listener queues behind it
            if current and not self.latest_only:
                self.finished.emit(result, error)
            return
        if current:
            self.finished.emit(result, error)
