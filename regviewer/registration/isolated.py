"""Run a chain of stages in a child process: no shared Python lock with the caller, native crashes contained.

The GUI runs registrations in a thread; SimpleITK releases the Python lock while it computes, but any
Python work of the engine (callbacks, previews, plugins written in Python, the before / after figures)
competes with the GUI thread for the lock, and a crash in native code (ITK, torch, a plugin's C
extension) would take the whole application down. ``IsolatedRun`` runs the same ``run_chain`` in a
child Python process (``python -m regviewer.registration.isolated``: a fresh interpreter that does not
re-run the caller's main script, unlike multiprocessing's "spawn") and relays its progress as
pickled frames on the child's standard output (the child's own prints go to its standard error):

- progress events are sent in batches (every ``BATCH_S``), previews at most every ``PREVIEW_S``;
- cancel is one byte on the child's standard input, which sets its token; a child that has not
  stopped ``KILL_AFTER_S`` after the cancel is terminated (the caller keeps the newest transform);
- the child computes the before / after figures itself, so the caller only unpickles numbers;
- a child that dies without a result gives a "failed" result naming its exit code.

Only methods of the default registry run here (the child builds its own registry from the same
entry points); a caller with another registry, or a frozen application (no Python to start), runs
in-process.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

from regviewer.core.errors import RegViewerError
from regviewer.core.evaluation import EvaluationData, before_after
from regviewer.core.progress import CancelToken, ProgressEvent
from regviewer.core.transforms import AffineTransform, Transform
from regviewer.registration.base import Request, Result
from regviewer.registration.pipeline import Stage, run_chain

BATCH_S = 0.05
PREVIEW_S = 0.25
KILL_AFTER_S = 2.0
POLL_S = 0.02


PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the regviewer package


def available() -> bool:
    """A child Python can be started (not in a frozen application)."""
    return not getattr(sys, "frozen", False) and bool(sys.executable)


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


def _request_fields(request: Request) -> dict[str, Any]:
    values = {item.name: getattr(request, item.name) for item in fields(request)}
    values["parameters"] = dict(request.parameters)
    return values


def _result_fields(result: Result) -> dict[str, Any]:
    values = {item.name: getattr(result, item.name) for item in fields(result)}
    values["parameters"] = dict(result.parameters)
    return values


def failed(stages: Sequence[Stage], request: Request, message: str, runtime_s: float) -> Result:
    start = request.initial_transform or AffineTransform.identity(request.fixed.ndim)
    return Result(
        ",".join(stage.method for stage in stages),
        start,
        "failed",
        runtime_s=runtime_s,
        message=message,
        log=(f"failed: {message}",),
    )


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
    pending: list[ProgressEvent] = []
    clock = {"batch": time.perf_counter(), "preview": time.perf_counter()}

    def progress(event: ProgressEvent) -> None:
        now = time.perf_counter()
        if event.preview is not None and now - clock["preview"] >= PREVIEW_S and not stop.cancelled:
            out.put(("preview", event.preview))
            clock["preview"] = now
        pending.append(
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
        if event.metric is None or now - clock["batch"] >= BATCH_S:
            out.put(("steps", tuple(pending)))
            pending.clear()
            clock["batch"] = now

    started = time.perf_counter()
    try:
        result = run_chain(stages, request, progress, stop)
    except MemoryError:
        result = failed(
            stages,
            request,
            "out of memory (try a smaller image, fewer levels or fewer samples)",
            time.perf_counter() - started,
        )
    except RegViewerError as error:
        result = failed(stages, request, str(error), time.perf_counter() - started)
    except Exception as error:  # an engine or plugin bug: a message, like in-process runs
        result = failed(stages, request, f"{type(error).__name__}: {error}", time.perf_counter() - started)
    if pending:
        out.put(("steps", tuple(pending)))
    out.put(("result", _result_fields(result)))
    if evaluation is not None and result.status != "failed":
        try:
            figures: dict = before_after(result.transform, evaluation)
        except Exception as error:  # figures are a bonus
            figures = {"error": f"{type(error).__name__}: {error}"}
        out.put(("figures", figures))
    out.put(("done", None))


class IsolatedRun:
    """Drives one child process; call ``run`` from a worker thread (it blocks until the child ends).

    Callbacks (called in the calling thread): ``on_steps(tuple[ProgressEvent, ...])``,
    ``on_preview(Transform)``, ``on_result(Result)``, ``on_figures(dict)``.
    """

    def __init__(
        self, stages: Sequence[Stage], request: Request, evaluation: EvaluationData | None = None, nice: int = 0
    ) -> None:
        self.stages, self.request, self.evaluation, self.nice = tuple(stages), request, evaluation, nice
        self.result: Result | None = None
        self._process: subprocess.Popen | None = None
        self._frames: queue_module.Queue = queue_module.Queue()

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH", "")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "regviewer.registration.isolated"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        write_frame(self._process.stdin, (self.stages, _request_fields(self.request), self.evaluation, self.nice))
        threading.Thread(target=self._read, name="regviewer-engine-reader", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                self._frames.put(read_frame(self._process.stdout))
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            self._frames.put(("eof", None))

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
        """Run to the end; ``abandon()`` True (e.g. a stand-in result was shown) terminates the child."""
        started = time.perf_counter()
        self._start()
        cancelled_at = None
        while True:
            if cancel.cancelled and cancelled_at is None:
                self.cancel()
                cancelled_at = time.perf_counter()
            if abandon() or (
                cancelled_at is not None and self.result is None and time.perf_counter() - cancelled_at > KILL_AFTER_S
            ):
                self.terminate()
                break
            try:
                kind, data = self._frames.get(timeout=POLL_S)
            except queue_module.Empty:
                continue
            if kind in ("done", "eof"):
                break
            if kind == "steps":
                on_steps(data)
            elif kind == "preview":
                on_preview(data)
            elif kind == "result":
                self.result = Result(**data)
                on_result(self.result)
            elif kind == "figures":
                on_figures(data)
        try:
            self._process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.terminate()
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.result is None and not abandon():
            self.result = failed(
                self.stages,
                self.request,
                f"the engine process ended without a result (exit code {self._process.returncode})",
                time.perf_counter() - started,
            )
            on_result(self.result)
        return self.result


def _watch_stdin(stream, token: CancelToken) -> None:  # noqa: ANN001
    """In the child: any byte (or the parent going away) on standard input cancels the run."""
    try:
        stream.read(1)
    except OSError:
        pass
    token.cancel()


def child_main() -> None:
    """Entry point of the child process (``python -m regviewer.registration.isolated``)."""
    frames_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints of engines or plugins go to stderr
    stages, request_fields, evaluation, nice = read_frame(sys.stdin.buffer)
    token = CancelToken()
    threading.Thread(target=_watch_stdin, args=(sys.stdin.buffer, token), daemon=True).start()
    _child(stages, request_fields, evaluation, _Outbox(frames_out), token, nice)
    frames_out.close()
    sys.stderr.flush()
    os._exit(0)  # not a normal shutdown: the stdin watcher thread is blocked in a read


if __name__ == "__main__":
    child_main()
