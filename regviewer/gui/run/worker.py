"""Runs a registration off the GUI thread and relays its progress as Qt signals.

A ``RunJob`` (frozen: a ``Request``, the stages and what the result is judged on) goes to a
``RunWorker`` living in its own ``QThread``. SimpleITK releases the Python lock while it computes, so
a thread keeps the window responsive; the Python work per iteration is kept small here:

- progress steps are batched (one signal at most every ``BATCH_S``, and at each new level), so a fast
  engine (thousands of iterations a second on 2D) cannot flood the GUI's event queue;
- intermediate transforms are relayed at most every ``PREVIEW_S`` (the newest one wins), because
  drawing a preview resamples four views on the GUI thread.

Cancel is bounded: when an engine has not stopped ``CANCEL_GRACE_S`` after Cancel (it checks once per
iteration, and an iteration can take a second), a "cancelled" result with the newest transform it
reported is sent at once and the engine finishes stopping in the background.

The worker always ends with ``finished(Result)``: an exception in an engine (a plugin bug, out of
memory, bad input) becomes a "failed" result with the message, never a crash. The before / after
figures of the result (``regviewer.core.evaluation.before_after``, the CLI's numbers) are computed
afterwards in the same thread and sent with ``evaluated`` so that a cancel's result arrives at once.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from regviewer.core.errors import RegViewerError
from regviewer.core.evaluation import EvaluationData, before_after
from regviewer.core.progress import CancelToken, ProgressEvent
from regviewer.core.transforms import AffineTransform
from regviewer.registration import isolated
from regviewer.registration.base import Request, Result
from regviewer.registration.isolated import IsolatedRun
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.registry import Registry, default_registry

BATCH_S = 0.05
PREVIEW_S = 0.25
CANCEL_GRACE_S = 0.5  # after Cancel, how long the engine's own result is awaited before a stand-in is sent
WORKER_NICE = 10  # Linux: the engine's threads yield to the GUI thread when the cores are busy
_ORPHANS: list[QThread] = []  # threads still running an engine that ignored a cancel at shutdown


@dataclass(frozen=True)
class RunJob:
    """Everything a run needs; shared read-only between the GUI and the worker thread."""

    run_id: int
    stages: tuple[Stage, ...]
    request: Request
    evaluation: EvaluationData | None = None
    registry: Registry | None = None
    isolated: bool = False  # run in a child process (default registry only; see registration/isolated.py)


@dataclass(frozen=True)
class ProgressStep:
    """One progress event of a run, with the position of its stage in the chain (no preview)."""

    run_id: int
    stage_index: int
    n_stages: int
    stage: str
    level: int
    n_levels: int
    iteration: int
    max_iterations: int
    metric: float | None
    message: str

    def fraction(self) -> float:
        """Share of the run done (levels and iterations within the stage, stages within the chain)."""
        within_level = min(1.0, (self.iteration + 1) / self.max_iterations) if self.max_iterations else 0.0
        within_stage = (self.level + within_level) / max(self.n_levels, 1)
        return min(1.0, (self.stage_index + within_stage) / max(self.n_stages, 1))


def failed_result(job: RunJob, message: str, runtime_s: float) -> Result:
    """The result of a run that raised: the starting transform, the reason."""
    start = job.request.initial_transform or AffineTransform.identity(job.request.fixed.ndim)
    return Result(
        ",".join(stage.method for stage in job.stages),
        start,
        "failed",
        runtime_s=runtime_s,
        message=message,
        log=(f"failed: {message}",),
    )


def run_job(job: RunJob, progress, cancel: CancelToken) -> Result:
    """Run the chain; every exception becomes a failed result (the GUI shows the message)."""
    started = time.perf_counter()
    try:
        return run_chain(job.stages, job.request, progress, cancel, job.registry or default_registry())
    except MemoryError:
        message = "out of memory (try a smaller image, fewer levels or fewer samples)"
    except RegViewerError as error:
        message = str(error)
    except Exception as error:  # an engine or plugin bug must not take the application down
        message = f"{type(error).__name__}: {error}"
    return failed_result(job, message, time.perf_counter() - started)


def lower_thread_priority(nice: int) -> None:
    """Give the calling thread (and the threads it starts, e.g. ITK's) a lower CPU priority on Linux.

    Linux keeps a nice value per thread and new threads inherit it. When every core is busy (ITK uses
    them all), the GUI thread then gets a core as soon as it wakes instead of waiting its turn.
    Elsewhere ``QThread.LowPriority`` (set when the thread starts) does the same.
    """
    if nice <= 0 or not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"):
        return
    try:
        os.setpriority(
            os.PRIO_PROCESS,
            threading.get_native_id(),
            max(nice, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),
        )
    except OSError:
        pass  # not allowed here: run at the normal priority


class _StageTracker:
    """Maps events to the stage of the chain that sent them (events name their method, maybe "method:part")."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.methods = [stage.method for stage in stages]
        self.index = 0

    def __call__(self, stage_name: str) -> int:
        method = stage_name.split(":", 1)[0]
        if self.methods[self.index] != method and method in self.methods[self.index + 1 :]:
            self.index = self.methods.index(method, self.index + 1)
        return self.index


class RunWorker(QObject):
    """Runs one job when its thread starts (see the module docstring for the signals)."""

    progressed = Signal(object)  # tuple[ProgressStep, ...], in order
    previewed = Signal(object)  # (run_id, Transform)
    finished = Signal(object)  # (run_id, Result)
    evaluated = Signal(object)  # (run_id, {"before": ..., "after": ...} or {"error": message})
    done = Signal()

    def __init__(self, job: RunJob, cancel: CancelToken) -> None:
        super().__init__()
        self.job, self.cancel = job, cancel
        self._tracker = _StageTracker(job.stages)
        self._pending: list[ProgressStep] = []
        self._preview: Any = None
        self._latest = job.request.initial_transform  # the newest transform the engine reported
        self._history: list[tuple[str, int, int, float]] = []
        self._started = self._last_batch = self._last_preview = time.perf_counter()
        self._claim = threading.Lock()
        self.delivered: Result | None = None
        self._stand_in: Result | None = None

    def _add_event(self, event: ProgressEvent) -> None:
        index = self._tracker(event.stage)
        self._pending.append(
            ProgressStep(
                self.job.run_id,
                index,
                len(self.job.stages),
                event.stage,
                event.level,
                event.n_levels,
                event.iteration,
                event.max_iterations,
                event.metric,
                event.message,
            )
        )
        if event.metric is not None:
            self._history.append((event.stage, event.level, event.iteration, event.metric))

    def _on_progress(self, event: ProgressEvent) -> None:
        """Called by the engine in this thread: cheap bookkeeping, signals only now and then."""
        self._add_event(event)
        if event.preview is not None:
            self._preview = self._latest = event.preview
        now = time.perf_counter()
        if event.metric is None or now - self._last_batch >= BATCH_S:
            self._flush(now)
        if self._preview is not None and now - self._last_preview >= PREVIEW_S and not self.cancel.cancelled:
            self.previewed.emit((self.job.run_id, self._preview))
            self._preview, self._last_preview = None, now

    def _on_steps(self, events: tuple[ProgressEvent, ...]) -> None:
        """A batch from a child process (already throttled there)."""
        for event in events:
            self._add_event(event)
        self._flush(time.perf_counter())

    def _on_child_preview(self, transform) -> None:  # noqa: ANN001
        self._latest = transform
        if not self.cancel.cancelled:
            self.previewed.emit((self.job.run_id, transform))

    def _flush(self, now: float) -> None:
        if self._pending:
            self.progressed.emit(tuple(self._pending))
            self._pending = []
        self._last_batch = now

    def deliver(self, result: Result) -> bool:
        """Send the run's result, once: the engine's own, or the stand-in sent after a cancel (any thread)."""
        with self._claim:
            if self.delivered is not None:
                return False
            self.delivered = result
        self.finished.emit((self.job.run_id, result))
        return True

    def stand_in(self) -> Result:
        """A "cancelled" result from the newest transform the engine reported (for an engine slow to stop)."""
        start = self.job.request.initial_transform or AffineTransform.identity(self.job.request.fixed.ndim)
        message = (
            "cancelled by the user; the engine had not stopped within "
            f"{CANCEL_GRACE_S:g} s, so its last reported transform is kept"
        )
        stages = [{"method": stage.method, "parameters": dict(stage.parameters)} for stage in self.job.stages]
        self._stand_in = Result(
            ",".join(stage.method for stage in self.job.stages),
            self._latest or start,
            "cancelled",
            {"stages": stages},
            time.perf_counter() - self._started,
            tuple(self._history),
            message,
            (message,),
        )
        return self._stand_in

    @Slot()
    def run(self) -> None:
        if self.job.isolated and isolated.available():
            try:
                self._run_isolated()
            except Exception as error:  # starting or talking to the child failed: a failed run, never a hang
                self.deliver(
                    failed_result(
                        self.job,
                        f"the engine process failed: {type(error).__name__}: {error}",
                        time.perf_counter() - self._started,
                    )
                )
            self.done.emit()
            return
        lower_thread_priority(WORKER_NICE)
        result = run_job(self.job, self._on_progress, self.cancel)
        self._flush(time.perf_counter())
        if not self.deliver(result):
            result = self.delivered  # the stand-in the GUI already shows is the one scored
        self._evaluate(result)
        self.done.emit()

    def _run_isolated(self) -> None:
        """Drive a child process; its figures are used unless a stand-in was shown (then scored here)."""
        figures: list[dict] = []
        runner = IsolatedRun(self.job.stages, self.job.request, self.job.evaluation, WORKER_NICE)
        runner.run(
            self.cancel,
            self._on_steps,
            self._on_child_preview,
            self.deliver,
            figures.append,
            abandon=lambda: self.delivered is not None and self.delivered is self._stand_in,
        )
        if self.delivered is None:  # nothing came back at all (cannot normally happen): say so
            self.deliver(
                failed_result(self.job, "the engine process gave no result", time.perf_counter() - self._started)
            )
        if self.delivered is self._stand_in:
            self._evaluate(self.delivered)
        elif figures and self.delivered.status != "failed":
            self.evaluated.emit((self.job.run_id, figures[-1]))

    def _evaluate(self, result: Result) -> None:
        if self.job.evaluation is not None and result.status != "failed":
            try:
                figures: dict = before_after(result.transform, self.job.evaluation)
            except Exception as error:  # figures are a bonus: report, never crash
                figures = {"error": f"{type(error).__name__}: {error}"}
            self.evaluated.emit((self.job.run_id, figures))


class RunController(QObject):
    """Owns the thread of the current run; re-emits the worker's signals in the GUI thread.

    One run at a time: ``start`` refuses while a run (or its evaluation) is still going.
    """

    progressed = Signal(object)
    previewed = Signal(object)
    finished = Signal(object)
    evaluated = Signal(object)
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: RunWorker | None = None
        self._cancel: CancelToken | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, job: RunJob) -> bool:
        if self.busy:
            return False
        self._cancel = CancelToken()
        thread = QThread()
        thread.setObjectName(f"registrationRun{job.run_id}")
        worker = RunWorker(job, self._cancel)
        worker.moveToThread(thread)
        worker.progressed.connect(self.progressed)
        worker.previewed.connect(self.previewed)
        worker.finished.connect(self.finished)
        worker.evaluated.connect(self.evaluated)
        worker.done.connect(thread.quit)
        thread.started.connect(worker.run)
        thread.finished.connect(self._thread_finished)
        self._thread, self._worker = thread, worker
        thread.start(QThread.Priority.LowPriority)
        return True

    def cancel(self) -> None:
        """Ask the engine to stop; its last transform comes back as a "cancelled" result.

        Engines check the request once per iteration, and one iteration can take seconds (a fine
        B-spline level on a busy machine). When the engine's result is not back within
        ``CANCEL_GRACE_S``, the worker's stand-in (the newest transform reported) is sent instead; the
        engine stops in the background and the next run can start once it has.
        """
        if self._cancel is not None and not self._cancel.cancelled:
            self._cancel.cancel()
            worker = self._worker
            QTimer.singleShot(int(CANCEL_GRACE_S * 1000), lambda: self._cancel_deadline(worker))

    def _cancel_deadline(self, worker: RunWorker | None) -> None:
        if worker is not None and worker is self._worker and worker.delivered is None:
            worker.deliver(worker.stand_in())

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Cancel and wait for the thread (before the window goes away)."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            if not self._thread.wait(timeout_ms):
                _ORPHANS.append(self._thread)  # never destroy a running QThread (Qt aborts)
            self._thread_finished()

    @Slot()
    def _thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread, self._worker, self._cancel = None, None, None
        self.idle.emit()
