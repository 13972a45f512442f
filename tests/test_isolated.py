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


def test_a_module_planted_in_the_working_directory_does_not_run_in_the_child(pair, tmp_path, monkeypatch):
    """The child runs isolated (-I): neither the working directory nor PYTHONPATH reach its import path."""
    marker = tmp_path / "planted-ran"
    for name in ("numpy.py", "SimpleITK.py"):
        (tmp_path / name).write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise ImportError('planted')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    fixed, moving = pair
    collected = Collected()
    result = collected.run(IsolatedRun([Stage("rigid", {"iterations": 5})], Request(fixed, moving)), CancelToken())
    assert not marker.exists()
    assert result.status == "completed", result.message


def test_child_argv_is_isolated_and_frozen_apps_use_their_own_entry(monkeypatch):
    from regviewer.registration import isolated

    assert isolated.child_argv()[1:] == ["-I", "-m", "regviewer.registration.isolated"]
    monkeypatch.setattr("sys.frozen", True, raising=False)
    assert isolated.child_argv()[1:] == ["--engine-child"] and isolated.available()


@pytest.mark.parametrize(
    "code, status",
    [
        (
            "import sys; sys.stderr.write('ImportError: planted module raised\\n'); sys.exit(3)",
            3,
        ),  # dies before talking
        (
            "import sys, os; sys.stdin.buffer.read(64); sys.stderr.write('Segmentation fault\\n'); sys.stderr.flush(); os._exit(11)",
            11,
        ),
    ],
)
def test_a_child_that_exits_at_any_moment_ends_the_run_as_failed(pair, monkeypatch, code, status):
    """With its exit status and standard error tail, at once, and reaped (never a zombie)."""
    from regviewer.registration import isolated

    monkeypatch.setattr(isolated, "child_argv", lambda: [isolated.sys.executable, "-c", code])
    fixed, moving = pair
    collected = Collected()
    runner = IsolatedRun([Stage("rigid", {})], Request(fixed, moving))
    result = collected.run(runner, CancelToken())  # returns (a dead child never leaves the run waiting)
    assert result.status == "failed" and f"exit code {status}" in result.message
    assert ("planted module raised" if status == 3 else "Segmentation fault") in result.message
    assert collected.results == [result] and runner._process.returncode == status


def test_a_child_that_dies_mid_run_after_progress_is_reaped(pair, monkeypatch):
    """A child that sends progress and then exits (no result, no "done") ends the run too."""
    from regviewer.registration import isolated

    code = (
        "import sys, os, pickle, struct\n"
        "from regviewer.core.progress import ProgressEvent\n"
        "sys.stdin.buffer.read(8)\n"
        "data = pickle.dumps(('steps', (ProgressEvent('rigid', 0, 1, 0, 1.0),)))\n"
        "sys.stdout.buffer.write(struct.pack('<Q', len(data)) + data); sys.stdout.flush()\n"
        "os._exit(7)\n"
    )
    monkeypatch.setattr(isolated, "child_argv", lambda: [isolated.sys.executable, "-c", code])
    fixed, moving = pair
    collected = Collected()
    runner = IsolatedRun([Stage("rigid", {})], Request(fixed, moving))
    result = collected.run(runner, CancelToken())
    assert len(collected.steps) == 1 and result.status == "failed" and "exit code 7" in result.message
    assert runner._process.returncode == 7
