"""Runs a registration off the GUI thread and relays its progress as Qt signals.

A ``RunJob`` (frozen: a ``Request``, the stages and what the result is judged on; built by
``regviewer.app.RunSession``) goes to a ``RunWorker`` living in its own ``QThread``. The run follows
the one run protocol (``registration.run_protocol``, the same as the engine child and the CLI):
every exception becomes a "failed" result with its message, progress steps are batched (one signal
at most every ``BATCH_S``, and at each new level) and intermediate transforms are relayed at most
every ``PREVIEW_S`` (the newest wins), because drawing a preview resamples four views on the GUI
thread. With ``isolated`` the engine runs in a child process (``registration/isolated.py``).

Cancel is bounded: when an engine has not stopped ``CANCEL_GRACE_S`` after Cancel (it checks once per
iteration, and an iteration can take a second), a "cancelled" result with the newest transform it
reported is sent at once and the engine finishes stopping in the background.

The result is sent with ``finished(Result)`` as soon as it exists: the controller is then ready for
the next run. The before / after figures follow with ``evaluated`` (Dice per label first when label
maps are scored, then the complete figures with HD95), computed in the same thread or child, which
may still be busy while the next run goes.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from regviewer.core.evaluation import EvaluationData
from regviewer.core.progress import CancelToken, ProgressEvent
from regviewer.core.transforms import AffineTransform, Transform
from regviewer.registration import isolated, run_protocol
from regviewer.registration.base import Request, Result
from regviewer.registration.isolated import IsolatedRun
from regviewer.registration.pipeline import Stage
from regviewer.registration.registry import Registry
from regviewer.registration.run_protocol import BATCH_S, PREVIEW_S, ProgressThrottle, figures_in_steps, run_guarded

__all__ = ["BATCH_S", "PREVIEW_S", "ProgressStep", "RunController", "RunJob", "RunWorker", "failed_result", "run_job"]

CANCEL_GRACE_S = 0.5  # after Cancel, how long the engine's own result is awaited before a stand-in is sent
WORKER_NICE = 10  # Linux: the engine's threads yield to the GUI thread when the cores are busy
_LIVE: dict[QThread, RunWorker] = {}  # threads (and their workers) that may still run: never destroyed while running


def _forget_finished_threads() -> None:
    """Drop the references to threads that have ended (kept in ``_LIVE`` until then, whatever owned them)."""
    for thread in [thread for thread in _LIVE if thread.isFinished()]:
        thread.wait()
        del _LIVE[thread]


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
    return run_protocol.failed_result(job.stages, job.request, message, runtime_s)


def run_job(job: RunJob, progress, cancel: CancelToken) -> Result:  # noqa: ANN001
    """Run the chain; every exception becomes a failed result (the GUI shows the message)."""
    return run_guarded(job.stages, job.request, progress, cancel, job.registry)


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
    evaluated = Signal(object)  # (run_id, {"before": ..., "after": ..., maybe "partial": True} or {"error": message})
    done = Signal()

    def __init__(self, job: RunJob, cancel: CancelToken) -> None:
        super().__init__()
        self.job, self.cancel = job, cancel
        self._tracker = _StageTracker(job.stages)
        self._latest: Transform | None = job.request.initial_transform  # the newest transform the engine reported
        self._history: list[tuple[str, int, int, float]] = []
        self._started = time.perf_counter()
        self._claim = threading.Lock()
        self.delivered: Result | None = None
        self._stand_in: Result | None = None
        self.abandoned = False  # the window closes: stop the child, skip the slow figures

    # ---- progress (worker thread) -------------------------------------------------------------
    def _on_steps(self, events: tuple[ProgressEvent, ...]) -> None:
        steps = []
        for event in events:
            steps.append(
                ProgressStep(
                    self.job.run_id,
                    self._tracker(event.stage),
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
        if steps:
            self.progressed.emit(tuple(steps))

    def _on_preview(self, transform: Transform) -> None:
        self._latest = transform
        if not self.cancel.cancelled:
            self.previewed.emit((self.job.run_id, transform))

    # ---- result ---------------------------------------------------------------------------------
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
        try:
            if self.job.isolated and isolated.available():
                self._run_isolated()
            else:
                self._run_here()
        except Exception as error:  # noqa: BLE001  (starting or talking to the child failed: a failed run, never a hang)
            self.deliver(
                failed_result(
                    self.job,
                    f"the engine process failed: {type(error).__name__}: {error}",
                    time.perf_counter() - self._started,
                )
            )
        finally:
            self.done.emit()

    def _run_here(self) -> None:
        lower_thread_priority(WORKER_NICE)
        throttle = ProgressThrottle(self._on_steps, self._on_preview, self.cancel)
        result = run_job(self.job, throttle, self.cancel)
        throttle.flush()
        if not self.deliver(result):
            result = self.delivered  # the stand-in the GUI already shows is the one scored
        self._evaluate(result)

    def _run_isolated(self) -> None:
        """Drive a child process; its figures are used unless a stand-in was shown (then scored here)."""
        runner = IsolatedRun(self.job.stages, self.job.request, self.job.evaluation, WORKER_NICE)

        def figures(values: dict) -> None:  # the child's figures (quick, then complete), relayed as they come
            if (
                self.delivered is not None
                and self.delivered is not self._stand_in
                and self.delivered.status != "failed"
            ):
                self.evaluated.emit((self.job.run_id, values))

        runner.run(
            self.cancel,
            self._on_steps,
            self._on_preview,
            self.deliver,
            figures,
            abandon=lambda: self.abandoned or (self.delivered is not None and self.delivered is self._stand_in),
        )
        if self.delivered is None and self.abandoned:  # the window closes: the newest transform, cancelled
            self.deliver(self.stand_in())
        elif self.delivered is None:  # nothing came back at all (cannot normally happen): say so
            self.deliver(
                failed_result(self.job, "the engine process gave no result", time.perf_counter() - self._started)
            )
        if self.delivered is self._stand_in:
            self._evaluate(self.delivered)

    def _evaluate(self, result: Result) -> None:
        if self.job.evaluation is None or result.status == "failed":
            return
        for figures in figures_in_steps(result.transform, self.job.evaluation, stop=lambda: self.abandoned):
            self.evaluated.emit((self.job.run_id, figures))


class RunController(QObject):
    """Owns the threads of the runs; re-emits the workers' signals in the GUI thread.

    One run at a time: ``start`` refuses while a run has not delivered its result (``running``).
    The figures of a finished run may still be computing (``busy``) while the next run goes.
    Signals: ``ready()`` when a new run can start, ``idle()`` when every thread has ended.
    """

    progressed = Signal(object)
    previewed = Signal(object)
    finished = Signal(object)
    evaluated = Signal(object)
    ready = Signal()
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: dict[QThread, RunWorker] = {}
        self._worker: RunWorker | None = None  # the run not yet finished
        self._cancel: CancelToken | None = None

    @property
    def running(self) -> bool:
        """A run is going (its result has not come back yet)."""
        return self._worker is not None

    @property
    def busy(self) -> bool:
        """A run, or the figures of a finished one, are still being computed."""
        return bool(self._threads)

    def start(self, job: RunJob) -> bool:
        if self.running:
            return False
        self._cancel = CancelToken()
        thread = QThread()
        thread.setObjectName(f"registrationRun{job.run_id}")
        worker = RunWorker(job, self._cancel)
        worker.moveToThread(thread)
        worker.progressed.connect(self.progressed)
        worker.previewed.connect(self.previewed)
        worker.finished.connect(self._finished)
        worker.evaluated.connect(self.evaluated)
        worker.done.connect(thread.quit)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._threads[thread] = worker
        _forget_finished_threads()
        _LIVE[thread] = worker
        self._worker = worker
        thread.start(QThread.Priority.LowPriority)
        return True

    def _finished(self, payload) -> None:  # noqa: ANN001
        run_id, _result = payload
        worker = self._worker
        if worker is not None and worker.job.run_id == run_id:
            self._worker, self._cancel = None, None
        self.finished.emit(payload)
        if worker is not None and worker.job.run_id == run_id:
            self.ready.emit()

    def cancel(self) -> None:
        """Ask the engine to stop; its last transform comes back as a "cancelled" result.

        Engines check the request once per iteration, and one iteration can take seconds (a fine
        B-spline level on a busy machine). When the engine's result is not back within
        ``CANCEL_GRACE_S``, the worker's stand-in (the newest transform reported) is sent instead; the
        engine stops in the background and the next run can start at once.
        """
        if self._cancel is not None and not self._cancel.cancelled:
            self._cancel.cancel()
            worker = self._worker
            QTimer.singleShot(int(CANCEL_GRACE_S * 1000), lambda: self._cancel_deadline(worker))

    def _cancel_deadline(self, worker: RunWorker | None) -> None:
        if worker is not None and worker.delivered is None and worker in self._threads.values():
            worker.deliver(worker.stand_in())

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel the run, stop the figures and wait for every thread (the window is closing).

        Returns True when every thread ended in time; a thread that did not stays referenced (a
        running QThread is never destroyed) and ends in the background.
        """
        self.cancel()
        for worker in self._threads.values():
            worker.abandoned = True
        deadline = time.monotonic() + timeout_ms / 1000
        for thread in list(self._threads):
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            thread.quit()
            if thread.wait(remaining):
                self._thread_finished(thread)
        QCoreApplication.sendPostedEvents(self)  # the results and figures the workers sent, delivered now
        return not self._threads

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread_finished(self.sender())

    def _thread_finished(self, thread: QThread) -> None:
        worker = self._threads.pop(thread, None)
        if worker is None:
            return
        if worker is self._worker:  # ended without a result (cannot normally happen): free the slot
            self._worker, self._cancel = None, None
            self.ready.emit()
        if not self._threads:
            self.idle.emit()
