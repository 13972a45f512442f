"""Progress reporting and cancellation shared by every engine, the CLI and the GUI worker.

An engine calls ``progress(ProgressEvent(...))`` as it goes and checks ``cancel.cancelled`` often
(at least once per iteration). On cancel it stops promptly and returns its last transform in a
result marked "cancelled"; it never raises at the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a running registration.

    Attributes:
        stage: name of the running stage, e.g. "affine" or "bspline" (several in a chain).
        level: 0-based resolution level within the stage.
        n_levels: number of resolution levels of the stage.
        iteration: iteration within the level (0-based).
        metric: metric value at this iteration (lower is better for every engine), or None.
        message: free text, e.g. "level 2/3: shrink 2, smoothing 1 mm".
        preview: an optional intermediate transform (fixed -> moving) for live previews;
            engines send one only every few iterations to keep the overhead small.
        max_iterations: iteration budget of the level when known (for progress bars), else 0.
    """

    stage: str
    level: int
    n_levels: int
    iteration: int
    metric: float | None = None
    message: str = ""
    preview: Any = None
    max_iterations: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(event: ProgressEvent) -> None:
    """A progress callback that does nothing."""


class CancelToken:
    """A thread-safe flag: the GUI or CLI sets it, the engine polls it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
