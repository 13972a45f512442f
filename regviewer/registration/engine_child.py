"""What the engines that run a native call in a child process (elastix, ANTs) share.

Each engine gives its child body (``child_run``), where its progress rows come from (elastix: its log
file, followed at each poll; ANTs: its verbose output) and how a row becomes a ProgressEvent. This module
starts the run, turns the rows (level, iteration, metric) into the Result's metric history and into one
progress event per level seen in a batch (its last row: a coarse level can start and end between two
polls, and its progress must still be reported), and builds the Result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from regviewer.core.transforms import Transform
from regviewer.registration import child_run
from regviewer.registration.base import Request, Result, resolve_parameters
from regviewer.registration.elastix_log import LogFollower

Row = tuple[int, int, float]


def prepare(method: Any, request: Request, cancel: CancelToken | None) -> tuple[CancelToken, float, dict]:
    """The start of every engine run: a cancel token, the start time, the checked parameters and pair."""
    from regviewer.registration.classic import check_pair

    cancel = cancel or CancelToken()
    started = time.perf_counter()
    values = resolve_parameters(method, request.parameters)
    check_pair(request)
    return cancel, started, values


def preload(load: Callable[[], Any]) -> None:
    """Import the engine's bindings once per process where children are forked (they inherit them)."""
    if child_run.uses_fork():
        load()


@dataclass
class EngineRun:
    """One engine call in a child process: its progress rows, history and Result."""

    name: str
    progress: ProgressCallback
    event: Callable[[int, int, float], ProgressEvent]
    history: list[tuple[str, int, int, float]] = field(default_factory=list)

    def report(self, rows: list[Row]) -> None:
        self.history.extend((self.name, level, iteration, metric) for level, iteration, metric in rows)
        for level, iteration, metric in {row[0]: row for row in rows}.values():  # the last row of each level
            self.progress(self.event(level, iteration, metric))

    def run(
        self,
        target: Callable[..., Any],
        request: Request,
        extra: tuple,
        work: Path,
        cancel: CancelToken,
        log_file: Path | None = None,
        parse_output: Callable[[str], list[Row]] | None = None,
    ) -> child_run.ChildOutcome:
        """Run ``target(work, fixed, moving, (fixed mask, moving mask), *extra)`` in a child; the progress rows
        come from ``log_file`` (followed at each poll) or from the child's output (``parse_output``)."""
        args = (str(work), request.fixed, request.moving, (request.fixed_mask, request.moving_mask), *extra)
        follower = LogFollower(log_file) if log_file is not None else None

        def on_poll() -> None:
            if follower is not None:
                self.report(follower.poll())

        def on_output(text: str) -> None:
            if parse_output is not None:
                self.report(parse_output(text))

        return child_run.run_in_child(target, args, work, cancel, on_poll=on_poll, on_output=on_output)

    def result(
        self,
        transform: Transform,
        status: str,
        values: dict,
        started: float,
        message: str,
        log: list[str],
    ) -> Result:
        return Result(
            method=self.name,
            transform=transform,
            status=status,
            parameters=values,
            runtime_s=time.perf_counter() - started,
            metric_history=tuple(self.history),
            message=message,
            log=tuple(log),
        )
