"""One run protocol for every caller: failure mapping, progress throttling and result warnings.

The window's worker thread, the engine's child process (``isolated.py``) and the CLI all run a chain
of stages the same way, and ``regviewer.app.run_session.RunSession`` is their one entry point. The
pieces live here (and not in ``app``) because the child process is started as
``python -m regviewer.registration.isolated`` and the registration layer does not import ``app``:

- ``run_guarded``: run the chain; every exception becomes a "failed" ``Result`` with a one-line
  message (an engine or plugin bug never takes the caller down);
- ``ProgressThrottle``: progress events in batches (every ``BATCH_S``, and at each event without a
  metric, e.g. a new level), intermediate transforms at most every ``PREVIEW_S`` (the newest wins),
  so a fast engine (thousands of iterations a second) cannot flood a GUI or a pipe;
- ``figures_in_steps``: the before / after figures in two steps when label maps are scored: Dice
  first (about a second), then the complete figures (image metrics, Jacobian, TRE, HD95 per label,
  which can take a minute on 100+ labels and 7 M voxels);
- ``result_warnings``: what the engine flagged ("a stage diverged") and what the figures show
  (folding, a metric worse than before), for the progress panel, the history and metrics.json.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regviewer.core import metrics
from regviewer.core.errors import RegViewerError
from regviewer.core.evaluation import EvaluationData, before_after, quality_warnings
from regviewer.core.progress import CancelToken, ProgressEvent
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, Transform
from regviewer.registration.base import Request, Result
from regviewer.registration.pipeline import Stage, run_chain

BATCH_S = 0.05
PREVIEW_S = 0.25
OUT_OF_MEMORY = "out of memory (try a smaller image, fewer levels or fewer samples)"


def failed_result(stages: Sequence[Stage], request: Request, message: str, runtime_s: float) -> Result:
    """The result of a run that could not finish: the starting transform and the reason."""
    start = request.initial_transform or AffineTransform.identity(request.fixed.ndim)
    return Result(
        ",".join(stage.method for stage in stages),
        start,
        "failed",
        runtime_s=runtime_s,
        message=message,
        log=(f"failed: {message}",),
    )


def failure_message(error: BaseException) -> str:
    """The one line a user sees for an exception raised by an engine."""
    if isinstance(error, MemoryError):
        return OUT_OF_MEMORY
    if isinstance(error, RegViewerError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def run_guarded(
    stages: Sequence[Stage],
    request: Request,
    progress: Callable[[ProgressEvent], None],
    cancel: CancelToken,
    registry=None,
) -> Result:  # noqa: ANN001
    """``run_chain`` with every exception turned into a failed result."""
    started = time.perf_counter()
    try:
        return run_chain(tuple(stages), request, progress, cancel, registry)
    except Exception as error:  # MemoryError included: an engine or plugin bug must not take the caller down
        return failed_result(stages, request, failure_message(error), time.perf_counter() - started)


class ProgressThrottle:
    """Batches progress events and thins previews (see the module docstring).

    ``send_steps(tuple[ProgressEvent, ...])`` receives the events without their preview, in order;
    ``send_preview(Transform)`` the newest intermediate transform. ``latest`` is the newest transform
    the engine reported (kept even when not sent), ``history`` every (stage, level, iteration, metric).
    Call ``flush()`` when the run ends.
    """

    def __init__(
        self,
        send_steps: Callable[[tuple], None],
        send_preview: Callable[[Transform], None],
        cancel: CancelToken | None = None,
        batch_s: float = BATCH_S,
        preview_s: float = PREVIEW_S,
    ) -> None:
        self.send_steps, self.send_preview, self.cancel = send_steps, send_preview, cancel
        self.batch_s, self.preview_s = batch_s, preview_s
        self.latest: Transform | None = None
        self.history: list[tuple[str, int, int, float]] = []
        self._pending: list[ProgressEvent] = []
        self._preview: Transform | None = None
        self._last_batch = self._last_preview = time.perf_counter()

    def __call__(self, event: ProgressEvent) -> None:
        now = time.perf_counter()
        if event.preview is not None:
            self._preview = self.latest = event.preview
        self._pending.append(
            ProgressEvent(
                event.stage,
                event.level,
                event.n_levels,
                event.iteration,
                event.metric,
                event.message,
                None,
                event.max_iterations,
            )
        )
        if event.metric is not None:
            self.history.append((event.stage, event.level, event.iteration, event.metric))
        if event.metric is None or now - self._last_batch >= self.batch_s:
            self._flush_steps(now)
        cancelled = self.cancel is not None and self.cancel.cancelled
        if self._preview is not None and now - self._last_preview >= self.preview_s and not cancelled:
            preview, self._preview = self._preview, None
            self._last_preview = now
            self.send_preview(preview)

    def _flush_steps(self, now: float) -> None:
        if self._pending:
            pending, self._pending = tuple(self._pending), []
            self.send_steps(pending)
        self._last_batch = now

    def flush(self) -> None:
        self._flush_steps(time.perf_counter())


def result_warnings(result: Result | None, figures: Mapping[str, Any] | None) -> list[str]:
    """Warnings a user must see beside a result: the engine's ("warning: ..." log lines, e.g. a stage
    that diverged) and the figures' (folding, worse than before; ``quality_warnings``)."""
    warnings: list[str] = []
    if result is not None:
        warnings += [line.removeprefix("warning: ") for line in result.log if line.startswith("warning: ")]
    if figures and "before" in figures and "after" in figures:
        warnings += quality_warnings(figures["before"], figures["after"])
    return warnings


def quick_figures(transform: Transform, evaluation: EvaluationData) -> dict:
    """Dice per label before (identity) and after ``transform``: two nearest-neighbour resamplings and
    a count, about a second even with 100+ labels on 7 M voxels (``partial``: the complete figures -
    image metrics, Jacobian, HD95, TRE - follow)."""
    fixed, fixed_labels, moving_labels = evaluation.fixed, evaluation.fixed_labels, evaluation.moving_labels
    spacing_zyx = tuple(fixed.geometry.spacing[::-1])
    figures: dict = {"partial": True}
    for key, step in (("before", None), ("after", transform)):
        if step is None and moving_labels.geometry.same_as(fixed.geometry):
            warped = moving_labels.array  # identity on the same grid: nothing to resample
        else:
            warped = resample_image(moving_labels, fixed.geometry, step, "label").array
        values = metrics.label_metrics(fixed_labels.array, warped, spacing_zyx, evaluation.score_labels, hd95=False)
        figures[key] = {
            name: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for name, value in values.items()
        }
    return figures


def figures_in_steps(transform: Transform, evaluation: EvaluationData, stop: Callable[[], bool] = lambda: False):
    """Yield the quick figures (Dice, when label maps are scored), then (unless ``stop()``) the complete
    ones; an error becomes ``{"error": message}`` (figures are a bonus: never a crash)."""
    try:
        if evaluation.fixed_labels is not None and evaluation.moving_labels is not None:
            yield quick_figures(transform, evaluation)
            if stop():
                return
        yield before_after(transform, evaluation)
    except Exception as error:  # noqa: BLE001
        yield {"error": failure_message(error)}
