"""Registration in a child process: same result as in-process, cancel, and a crashed engine contained."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import SimpleITK as sitk

from regviewer import paths
from regviewer.core.evaluation import EvaluationData
from regviewer.core.io import read_image
from regviewer.core.progress import CancelToken
from regviewer.registration.base import Request
from regviewer.registration.isolated import IsolatedRun
from regviewer.registration.pipeline import Stage, run_chain


@pytest.fixture(scope="module")
def pair():
    return read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)


class Collected:
    def __init__(self) -> None:
        self.steps, self.previews, self.results, self.figures = [], [], [], []

    def run(self, runner: IsolatedRun, cancel: CancelToken):
        return runner.run(cancel, self.steps.extend, self.previews.append, self.results.append, self.figures.append)


def test_a_child_run_gives_the_in_process_result_progress_and_figures(pair, monkeypatch):
    monkeypatch.setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        fixed, moving = pair
        stages = [Stage("rigid", {"iterations": 80})]
        collected = Collected()
        result = collected.run(
            IsolatedRun(stages, Request(fixed, moving), EvaluationData(fixed, moving)), CancelToken()
        )
        local = run_chain(stages, Request(fixed, moving))
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    assert result.status == "completed" and collected.results == [result]
    assert np.allclose(result.transform.matrix, local.transform.matrix) and np.allclose(
        result.transform.translation, local.transform.translation
    )
    metrics = [(e.level, e.iteration) for e in collected.steps if e.metric is not None]
    assert metrics == sorted(metrics) and len(metrics) == len(result.metric_history)
    assert collected.figures[0]["after"]["ncc"] > collected.figures[0]["before"]["ncc"]


def _slow_bspline():
    return [
        Stage(
            "bspline",
            {
                "iterations": 1000,
                "mesh_spacing_mm": 6.0,
                "samples": (200000,),
                "shrink_factors": (1,),
                "smoothing_sigmas": (0.0,),
            },
        )
    ]


def test_cancel_stops_the_child_and_keeps_its_last_transform(pair):
    fixed, moving = pair
    token, collected = CancelToken(), Collected()
    runner = IsolatedRun(_slow_bspline(), Request(fixed, moving))
    marks = {}

    def cancel_when_running() -> None:
        deadline = time.time() + 60
        while len([e for e in collected.steps if e.metric is not None]) < 3 and time.time() < deadline:
            time.sleep(0.01)
        marks["cancel"] = time.perf_counter()
        token.cancel()

    threading.Thread(target=cancel_when_running, daemon=True).start()
    result = collected.run(runner, token)
    latency = time.perf_counter() - marks["cancel"]
    assert result.status == "cancelled" and "cancelled" in result.message
    assert latency < 5.0  # bounded: the child stops at its next iteration, or is killed after KILL_AFTER_S
    assert result.transform.describe() != "identity"


def test_a_child_that_dies_gives_a_failed_result(pair):
    fixed, moving = pair
    token, collected = CancelToken(), Collected()
    runner = IsolatedRun(_slow_bspline(), Request(fixed, moving))

    def kill_when_running() -> None:
        deadline = time.time() + 60
        while not collected.steps and time.time() < deadline:
            time.sleep(0.01)
        os.kill(runner._process.pid, signal.SIGKILL)  # what a segmentation fault in native code looks like

    threading.Thread(target=kill_when_running, daemon=True).start()
    result = collected.run(runner, token)
    assert result.status == "failed" and "exit code -9" in result.message
    assert collected.results == [result]
