"""The pieces a release needs: the frozen entry point's dispatch, --info inside a bundle, the xcb library
check of --info, and ``regviewer --smoke-test``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from regviewer import paths
from regviewer.cli import info, qt_libraries
from regviewer.core.io import read_image
from regviewer.core.progress import CancelToken
from regviewer.registration import isolated
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage

# ldd on Qt 6.10's libqxcb.so on a Debian 12 desktop without libxcb-icccm4 and libxcb-keysyms1 (shortened).
LDD_ON_A_BARE_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007ffd8a3f2000)
\tlibQt6XcbQpa.so.6 => /opt/regviewer/_internal/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0c1a000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0c19ff0000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0c19f00000)
"""


def test_ldd_output_names_what_is_missing_and_the_packages():
    missing = qt_libraries.missing_from_ldd(LDD_ON_A_BARE_DEBIAN)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    line = qt_libraries.describe_missing(missing)
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in line and "cursor" not in line
    assert qt_libraries.describe_missing([]) == "all found"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin exists on Linux only")
def test_the_installed_xcb_plugin_is_checked_with_ldd():
    plugin = qt_libraries.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    report = qt_libraries.xcb_libraries_report()
    # .ci/run installs the xcb libraries (the app needs them on a desktop): nothing may be missing there.
    assert report == "all found", report


def test_probes_run_the_bundle_executable_when_frozen(monkeypatch):
    assert info.probe_command("vtk")[1:3] == ["-m", "regviewer.cli.info"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    for name in ("qt", "vtk", "torch"):
        assert info.probe_command(name) == [sys.executable, "--info-probe", name]
    assert "frozen bundle" in info.system_info()["regviewer"]


def _frozen_entry(*arguments: str, **kwargs) -> subprocess.CompletedProcess:
    """Run regviewer.frozen's main() as the bundle's executable would be run."""
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "regviewer.frozen", *arguments],
        env=environment,
        capture_output=True,
        timeout=120,
        **kwargs,
    )


def test_frozen_entry_runs_an_info_probe():
    completed = _frozen_entry("--info-probe", "qt", text=True)
    assert completed.returncode == 0, completed.stderr
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe["qt platform plugin"].startswith("offscreen")


@pytest.mark.parametrize("arguments", [("--engine-child",), ("-I", "-m", "regviewer.registration.isolated")])
def test_frozen_entry_is_the_engine_child(arguments, monkeypatch):
    # The window's IsolatedRun, with the child started as a bundle starts it: the executable + "--engine-child".
    monkeypatch.setattr(isolated, "child_argv", lambda: [sys.executable, "-m", "regviewer.frozen", *arguments])
    fixed, moving = read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)
    steps: list = []
    runner = isolated.IsolatedRun((Stage("rigid", {"iterations": 20}),), Request(fixed, moving))
    result = runner.run(CancelToken(), steps.extend, lambda transform: None, lambda result: None, lambda figures: None)
    assert result is not None and result.status == "completed", result and result.message
    assert result.transform is not None and steps


def test_smoke_test_paints_the_demo(qapp, tmp_path):
    from regviewer.gui.smoke_test import run_smoke_test

    assert run_smoke_test("2d", tmp_path / "window.png") == 0
    assert read_image(tmp_path / "window.png").shape[:2] == (860, 1280)


def test_smoke_test_fails_with_a_reason_when_the_demo_is_missing(qapp, monkeypatch, tmp_path, capsys):
    from regviewer.gui.smoke_test import run_smoke_test

    monkeypatch.setattr(paths, "SAMPLE_2D_FIXED", tmp_path / "gone.jpg")
    assert run_smoke_test("2d") == 1
    assert "smoke test failed: the demo did not open" in capsys.readouterr().err


def test_smoke_test_option_of_the_command(tmp_path):
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    completed = subprocess.run(
        [sys.executable, "-m", "regviewer", "--smoke-test", "--demo", "2d"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("smoke test ok: demo 2d painted")


def test_the_smoke_test_waits_for_a_job_its_ending_job_starts():
    """BackgroundJob starts a queued request in a new thread when the running one ends: that one is waited for too
    (it was reported as "still running" once, in the bundle)."""
    import threading
    import time

    from regviewer.gui.smoke_test import _wait_for_background_work

    def second() -> None:
        time.sleep(0.3)

    def first() -> None:
        time.sleep(0.2)
        threading.Thread(target=second, name="regviewer-second-job").start()

    threading.Thread(target=first, name="regviewer-first-job").start()

    class NoEvents:
        def processEvents(self) -> None:  # noqa: N802
            pass

    assert _wait_for_background_work(NoEvents(), timeout_s=20) == []
