"""Run a chain of stages in a child process: no shared Python lock with the caller, native crashes contained.

The GUI runs registrations in a thread; SimpleITK releases the Python lock while it computes, but any
Python work of the engine (callbacks, previews, plugins written in Python, the before / after figures)
competes with the GUI thread for the lock, and a crash in native code (ITK, torch, a plugin's C
extension) would take the whole application down. ``IsolatedRun`` runs the same chain in a child
Python process and relays its progress as pickled frames on the child's standard output (the
child's own prints go to its standard error, whose tail is kept for the failure message):

- the child is started with ``child_argv()``: ``python -I -m regviewer.registration.isolated``
  (isolated mode: neither the working directory nor PYTHON* variables reach its import path, so a
  ``numpy.py`` in the folder the app was started from cannot run in it), or, in a frozen
  application, its own executable with ``--engine-child`` (its entry point calls ``main``);
- progress and previews follow the one run protocol (``run_protocol.ProgressThrottle``), and the
  child computes the before / after figures itself (quick ones first, then HD95) so the caller
  only unpickles numbers;
- cancel is one byte on the child's standard input, which sets its token; a child that has not
  stopped ``KILL_AFTER_S`` after the cancel is terminated, and the run ends "cancelled" with the
  newest transform the child reported;
- a child that exits at any moment, for any reason (an import that raises, a crash, a kill), ends
  the run as failed with its exit status and the tail of its standard error; it is always reaped.

Only methods of the default registry run here (the child builds its own registry from the same
entry points); a caller with another registry runs in-process.
"""

from __future__ import annotations

import collections
import os
import pickle
import queue as queue_module
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from regviewer.core.evaluation import EvaluationData
from regviewer.core.progress import CancelToken
from regviewer.core.transforms import Transform
from regviewer.registration.base import Request, Result
from regviewer.registration.pipeline import Stage
from regviewer.registration.run_protocol import ProgressThrottle, failed_result, figures_in_steps, run_guarded

KILL_AFTER_S = 2.0
POLL_S = 0.02
STDERR_TAIL_LINES = 12
FROZEN_FLAG = "--engine-child"


def child_argv() -> list[str]:
    """The command line of the engine child process (see the module docstring)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_FLAG]
    return [sys.executable, "-I", "-m", "regviewer.registration.isolated"]


def available() -> bool:
    """A child process can be started (a Python, or a frozen application that dispatches ``--engine-child``)."""
    return bool(sys.executable)


def write_frame(stream, item: Any) -> None:  # noqa: ANN001
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_frame(stream) -> Any:  # noqa: ANN001
    """The next pickled item; raises EOFError at the end of the stream."""
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    size = struct.unpack("<Q", header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _fields(item) -> dict[str, Any]:  # noqa: ANN001
    values = {entry.name: getattr(item, entry.name) for entry in fields(item)}
    values["parameters"] = dict(item.parameters)
    return values


def failed(stages: Sequence[Stage], request: Request, message: str, runtime_s: float) -> Result:
    """Kept for callers of the previous module: see ``run_protocol.failed_result``."""
    return failed_result(stages, request, message, runtime_s)


class _Outbox:
    """The child's frames to the parent (thread-safe: the engine may report from any thread)."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        self.stream, self.lock = stream, threading.Lock()

    def put(self, item: Any) -> None:
        with self.lock:
            write_frame(self.stream, item)


def _child(
    stages: tuple[Stage, ...],
    request_fields: dict,
    evaluation: EvaluationData | None,
    out: _Outbox,
    stop: CancelToken,
    nice: int,
) -> None:
    """The child process: run, report, score (never raises: every outcome is a message)."""
    if nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(nice)  # yield the cores to the caller's GUI when they are all busy
        except OSError:
            pass
    request = Request(**request_fields)
    throttle = ProgressThrottle(
        lambda steps: out.put(("steps", steps)), lambda preview: out.put(("preview", preview)), stop
    )
    result = run_guarded(stages, request, throttle, stop)
    throttle.flush()
    out.put(("result", _fields(result)))
    if evaluation is not None and result.status != "failed":
        for figures in figures_in_steps(result.transform, evaluation):
            out.put(("figures", figures))
    out.put(("done", None))


class IsolatedRun:
    """Drives one child process; call ``run`` from a worker thread (it blocks until the child ends).

    Callbacks (called in the calling thread): ``on_steps(tuple[ProgressEvent, ...])``,
    ``on_preview(Transform)``, ``on_result(Result)``, ``on_figures(dict)`` (up to twice: quick, complete).
    """

    def __init__(
        self, stages: Sequence[Stage], request: Request, evaluation: EvaluationData | None = None, nice: int = 0
    ) -> None:
        self.stages, self.request, self.evaluation, self.nice = tuple(stages), request, evaluation, nice
        self.result: Result | None = None
        self._process: subprocess.Popen | None = None
        self._frames: queue_module.Queue = queue_module.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._latest: Transform | None = None  # the newest preview
        self._history: list[tuple[str, int, int, float]] = []
        self._cancelled_at: float | None = None

    def _start(self) -> None:
        self._process = subprocess.Popen(
            child_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        threading.Thread(target=self._read, name="regviewer-engine-reader", daemon=True).start()
        threading.Thread(target=self._read_errors, name="regviewer-engine-stderr", daemon=True).start()
        try:
            write_frame(self._process.stdin, (self.stages, _fields(self.request), self.evaluation, self.nice))
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child is gone already: its exit status and standard error say why

    def _read(self) -> None:
        try:
            while True:
                self._frames.put(read_frame(self._process.stdout))
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, AttributeError, ImportError):
            self._frames.put(("eof", None))

    def _read_errors(self) -> None:
        """Keep the last lines of the child's standard error (and echo them to ours, for logs)."""
        try:
            for raw in iter(self._process.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                self._stderr.append(line)
                print(line, file=sys.stderr)
        except (OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        return " | ".join(line for line in self._stderr if line.strip())[-600:]

    def cancel(self) -> None:
        try:
            self._process.stdin.write(b"C")
            self._process.stdin.flush()
        except (OSError, ValueError, AttributeError):
            pass  # already gone

    def terminate(self) -> None:
        """Stop the child at once (its result, if any, is not waited for)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def run(
        self,
        cancel: CancelToken,
        on_steps: Callable[[tuple], None],
        on_preview: Callable[[Transform], None],
        on_result: Callable[[Result], None],
        on_figures: Callable[[dict], None],
        abandon: Callable[[], bool] = lambda: False,
    ) -> Result | None:
        """Run to the end; ``abandon()`` True (e.g. a stand-in result was shown, or the window closes)
        terminates the child. The child is always reaped before this returns."""
        started = time.perf_counter()
        try:
            self._start()
            self._relay(cancel, on_steps, on_preview, on_result, on_figures, abandon)
        finally:
            self._reap()
        if self.result is None and not abandon():
            runtime_s = time.perf_counter() - started
            if self._cancelled_at is not None:
                self.result = self._killed_after_cancel(runtime_s)
            else:
                status = self._process.returncode if self._process is not None else None
                tail = self.stderr_tail()
                message = f"the engine process ended without a result (exit code {status})" + (
                    f": {tail}" if tail else ""
                )
                self.result = failed_result(self.stages, self.request, message, runtime_s)
            on_result(self.result)
        return self.result

    def _killed_after_cancel(self, runtime_s: float) -> Result:
        """A "cancelled" result from the newest transform the child reported before it was stopped."""
        start = self.request.initial_transform
        transform = self._latest or start
        if transform is None:
            from regviewer.core.transforms import AffineTransform

            transform = AffineTransform.identity(self.request.fixed.ndim)
        message = (
            f"cancelled by the user; the engine had not stopped within {KILL_AFTER_S:g} s, "
            "so its last reported transform is kept"
        )
        stages = [{"method": stage.method, "parameters": dict(stage.parameters)} for stage in self.stages]
        return Result(
            ",".join(stage.method for stage in self.stages),
            transform,
            "cancelled",
            {"stages": stages},
            runtime_s,
            tuple(self._history),
            message,
            (message,),
        )

    def _relay(self, cancel, on_steps, on_preview, on_result, on_figures, abandon) -> None:  # noqa: ANN001
        while True:
            if cancel.cancelled and self._cancelled_at is None:
                self.cancel()
                self._cancelled_at = time.perf_counter()
            cancelled_at = self._cancelled_at
            if abandon() or (
                cancelled_at is not None and self.result is None and time.perf_counter() - cancelled_at > KILL_AFTER_S
            ):
                self.terminate()
                return
            try:
                kind, data = self._frames.get(timeout=POLL_S)
            except queue_module.Empty:
                if self._process.poll() is not None and self._frames.empty():
                    try:  # the child is gone: take what its pipe still held, then stop
                        kind, data = self._frames.get(timeout=1.0)
                    except queue_module.Empty:
                        return
                else:
                    continue
            if kind in ("done", "eof"):
                return
            if kind == "steps":
                self._history += [(e.stage, e.level, e.iteration, e.metric) for e in data if e.metric is not None]
                on_steps(data)
            elif kind == "preview":
                self._latest = data
                on_preview(data)
            elif kind == "result":
                self.result = Result(**data)
                on_result(self.result)
            elif kind == "figures":
                on_figures(data)

    def _reap(self) -> None:
        """Wait for the child (killing it when it does not end) and close its pipes: never a zombie."""
        process = self._process
        if process is None:
            return
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


def _watch_stdin(stream, token: CancelToken) -> None:  # noqa: ANN001
    """In the child: any byte (or the parent going away) on standard input cancels the run."""
    try:
        stream.read(1)
    except OSError:
        pass
    token.cancel()


def main() -> None:
    """Entry point of the child process (``python -I -m regviewer.registration.isolated``, or a frozen
    application's ``--engine-child``)."""
    frames_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints of engines or plugins go to stderr
    stages, request_fields, evaluation, nice = read_frame(sys.stdin.buffer)
    token = CancelToken()
    threading.Thread(target=_watch_stdin, args=(sys.stdin.buffer, token), daemon=True).start()
    _child(stages, request_fields, evaluation, _Outbox(frames_out), token, nice)
    frames_out.close()
    sys.stderr.flush()
    os._exit(0)  # not a normal shutdown: the stdin watcher thread is blocked in a read


child_main = main  # the previous name


if __name__ == "__main__":
    main()
