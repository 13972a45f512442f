"""A terminal progress bar per resolution level (stderr), fed by ProgressEvents."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from regviewer.core.progress import ProgressEvent


class TerminalProgress:
    """One bar per (stage, level); redrawn in place on a terminal, one line per level otherwise."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, min_interval_s: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.min_interval_s = min_interval_s
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._key: tuple[str, int] | None = None
        self._last_line = ""
        self._last_draw = 0.0
        self._started = time.perf_counter()

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.stage, event.level)
        if key != self._key:
            self.finish_line()
            self._key = key
            self._started = time.perf_counter()
        self._last_line = self._format(event)
        now = time.perf_counter()
        if self.interactive and now - self._last_draw >= self.min_interval_s:
            self.stream.write("\r" + self._last_line.ljust(100)[:110])
            self.stream.flush()
            self._last_draw = now

    def _format(self, event: ProgressEvent) -> str:
        done = event.iteration + 1 if event.metric is not None else event.iteration
        total = max(event.max_iterations, done, 1)
        filled = int(self.width * min(done / total, 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        metric = f" metric {event.metric:.5g}" if event.metric is not None else ""
        elapsed = time.perf_counter() - self._started
        return f"{event.stage:>10} level {event.level + 1}/{event.n_levels} [{bar}] {done:4d}/{total}{metric} {elapsed:5.1f}s"

    def finish_line(self) -> None:
        """End the current bar (called on level change and at the end of the run)."""
        if not self._last_line:
            return
        prefix = "\r" if self.interactive else ""
        self.stream.write(prefix + self._last_line.ljust(100)[:110].rstrip() + "\n")
        self.stream.flush()
        self._last_line = ""
