"""Kill a real ``regviewer register`` at several moments, writing included: nothing truncated under a final name.

SIGKILL (no chance to clean up) may leave a hidden temporary file, never a partial file under a final
name. SIGINT (Ctrl-C) or SIGTERM once the registration runs cancels it: the transform is still written (first),
every file under its final name is whole, and no temporary file is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image, write_image
from regviewer.core.io.atomic import TEMP_MARK
from regviewer.core.io.transforms_io import read_transform


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pair")
    z, y, x = np.mgrid[0:64, 0:64, 0:64].astype(np.float32)
    images = []
    for name, shift in (("fixed.nii.gz", 0.0), ("moving.nii.gz", 3.0)):
        array = 100 * np.exp(-((z - 32) ** 2 + (y - 30) ** 2 / 0.6 + (x - 32 - shift) ** 2) / 200) + 0.01 * x
        images.append(
            write_image(
                Image(array.astype(np.float32), Geometry((64, 64, 64), (1.0, 1.0, 1.0), (0, 0, 0))), folder / name
            )
        )
    return images[0], images[1]


class Run:
    """``regviewer register`` in a child process, with its stderr lines collected as they come."""

    def __init__(self, pair: tuple[Path, Path], out: Path) -> None:
        self.out = out
        argv = [
            sys.executable,
            "-m",
            "regviewer",
            "register",
            str(pair[0]),
            str(pair[1]),
            "-o",
            str(out),
            "--method",
            "bspline",
            "--param",
            "iterations=6",
            "--param",
            "samples=400,600,800",
            "--param",
            "mesh_spacing_mm=16",
        ]
        self.process = subprocess.Popen(
            argv,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        self.lines: list[str] = []
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, condition, timeout: float = 120.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.process.poll() is None:
            if condition():
                return True
            time.sleep(0.002)
        return condition()

    def transform_written(self) -> bool:
        return any(self.out.glob("transform.*"))

    def finish(self, timeout: float = 180.0) -> int:
        return self.process.wait(timeout)


def final_files_are_whole(out: Path) -> list[str]:
    """Read every file under a final name; return the names that could not be read completely."""
    broken = []
    for path in sorted(out.iterdir()) if out.exists() else []:
        if path.name.startswith("."):
            continue
        try:
            if path.name.startswith(("transform", "displacement")):
                read_transform(path)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            else:
                read_image(path)
        except Exception as error:  # noqa: BLE001 (any failure is a truncated file)
            broken.append(f"{path.name}: {error}")
    return broken


def temporaries(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if TEMP_MARK in p.name] if out.exists() else []


@pytest.mark.parametrize("moment", ["2s", "at transform", "at displacement", "at warped"])
def test_sigkill_never_leaves_a_truncated_file_under_a_final_name(pair, tmp_path, moment):
    run = Run(pair, tmp_path / "out")
    if moment.endswith("s") and moment[:-1].replace(".", "").isdigit():
        run.wait_for(lambda: time.monotonic() - run.started > float(moment[:-1]))
    else:
        name = moment.split()[-1]
        run.wait_for(lambda: any(run.out.glob(f"{name}.*")) or any(name in p for p in temporaries(run.out)))
    run.process.send_signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL or run.process.returncode == 0
    assert final_files_are_whole(run.out) == []


@pytest.mark.parametrize("moment", ["level 1 done", "at transform", "at warped"])
def test_sigint_keeps_the_transform_and_leaves_whole_files(pair, tmp_path, moment):
    run = Run(pair, tmp_path / "out")
    if moment.startswith("level"):
        wanted = int(moment.split()[1])
        assert run.wait_for(lambda: sum("level" in line for line in run.lines) >= wanted), "".join(run.lines)
    else:
        name = moment.split()[-1]
        run.wait_for(lambda: any(run.out.glob(f"{name}.*")) or any(name in p for p in temporaries(run.out)))
    _cancel_and_check(run, signal.SIGINT)


def test_sigterm_cancels_like_ctrl_c(pair, tmp_path):
    """``kill PID`` (SIGTERM) once the registration runs: cancelled, the transform written, every file whole."""
    run = Run(pair, tmp_path / "out")
    assert run.wait_for(lambda: any("level" in line for line in run.lines)), "".join(run.lines)
    _cancel_and_check(run, signal.SIGTERM)


def _cancel_and_check(run: Run, number: int) -> None:
    """Send ``number``; the run ends cancelled (130) or finished (0), its transform written, every file whole."""
    run.process.send_signal(number)
    code = run.finish()
    assert code in (130, 0), "".join(run.lines)
    assert run.transform_written(), "".join(run.lines)
    assert final_files_are_whole(run.out) == []
    assert temporaries(run.out) == []
    if code == 130:
        assert any("cancel" in line for line in run.lines)
