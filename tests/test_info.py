"""``regviewer --info``: versions and capabilities, printed even where Qt cannot start."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

import pytest

from regviewer import __version__
from regviewer.cli.info import collect_info, format_info, run_child_probes


@pytest.fixture(scope="module")
def info() -> dict[str, str]:
    return collect_info()


def test_versions_of_regviewer_python_and_packages(info):
    assert info["regviewer"] == __version__
    assert info["python"].startswith(platform.python_version())
    assert info["platform"] == platform.platform()
    for label, distribution in (
        ("numpy", "numpy"),
        ("SimpleITK", "SimpleITK"),
        ("nibabel", "nibabel"),
        ("pyqtgraph", "pyqtgraph"),
        ("vtk", "vtk"),
        ("torch", "torch"),
    ):
        assert info[f"{label} (installed)"] == metadata.version(distribution)
    assert info["PySide6 (installed)"][0].isdigit()


def test_qt_probe_reports_plugin_screens_and_opengl(info):
    from PySide6 import QtCore  # the test process may import Qt; regviewer.cli.info does not

    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"  # set by conftest
    assert info["qt"].startswith(QtCore.qVersion())
    assert info["qt platform plugin"] == "offscreen (QT_QPA_PLATFORM=offscreen)"
    assert "DPI" in info["screens"]
    assert info["opengl"].startswith(("available", "unavailable: "))
    if info["opengl"].startswith("available"):
        assert info["opengl renderer"] and info["opengl version"]


def test_vtk_and_torch_probes(info):
    assert info["vtk"] == metadata.version("vtk")
    assert info["vtk render window"].startswith("vtk") and "RenderWindow" in info["vtk render window"]
    assert info["vtk offscreen render"].startswith(("ok", "rendered", "unavailable: "))
    assert info["torch"] == metadata.version("torch")
    assert info["torch cuda"].startswith(("available (CUDA", "not available"))
    assert info["torch mps"] in ("available", "not available")


def test_format_info_aligns_one_line_per_key(info):
    lines = format_info(info).splitlines()
    assert len(lines) == len(info)
    assert lines[0].startswith("regviewer:") and lines[0].endswith(" " + __version__)
    value_column = max(len(key) for key in info) + 2
    for line, (key, value) in zip(lines, info.items()):
        assert line[:value_column].rstrip() == key + ":" and line[value_column:] == value


def test_a_crashing_qt_probe_is_reported_not_raised():
    environment = {**os.environ, "QT_QPA_PLATFORM": "no-such-platform-plugin"}
    reported = run_child_probes(("qt",), environment=environment)["qt"]
    assert list(reported) == ["qt"]
    assert reported["qt"].startswith("unavailable: the probe crashed"), reported
    assert "no-such-platform-plugin" in reported["qt"]  # Qt's own explanation is kept


def test_a_hung_probe_is_reported_after_the_timeout():
    reported = run_child_probes(("torch",), timeout_s=0.05)["torch"]
    assert reported == {"torch": "unavailable: the probe did not answer within 0.05 s (hung)"}


def test_info_prints_when_qt_cannot_open_a_display():
    """Headless Linux (no DISPLAY, no Wayland, no QT_QPA_PLATFORM): Qt aborts, the report still prints."""
    environment = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run(
        [sys.executable, "-m", "regviewer.cli.info"], capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = {key: value.strip() for key, value in (line.split(":", 1) for line in done.stdout.splitlines())}
    assert lines["regviewer"] == __version__
    assert lines["torch"] == metadata.version("torch")
    if sys.platform.startswith("linux"):  # elsewhere the native platform plugin needs no display server
        assert lines["qt"].startswith("unavailable: the probe crashed")
    if lines["qt"].startswith("unavailable"):
        assert lines["qt platform plugin [offscreen]"].startswith("offscreen")
    else:
        assert "offscreen" not in lines["qt platform plugin"]
