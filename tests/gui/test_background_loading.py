"""Files opened from the menus, recent files and drops are read off the GUI thread."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QSettings, QTimer

from regviewer import paths
from regviewer.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, errors):
    window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _slow_reads(window, monkeypatch, seconds=0.4):
    original = window._read

    def slow(role, path):
        time.sleep(seconds)  # a large DICOM series
        return original(role, path)

    monkeypatch.setattr(window, "_read", slow)


def test_the_window_keeps_running_while_files_are_read(qtbot, window, monkeypatch, errors):
    _slow_reads(window, monkeypatch)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    window.load_in_background(fixed=paths.SAMPLE_3D_FIXED, moving=paths.SAMPLE_3D_MOVING)
    assert (
        window.grid.scene.fixed is None and "Reading fixed.nii.gz, moving.nii.gz" in window.statusBar().currentMessage()
    )
    qtbot.waitUntil(lambda: window.grid.scene.moving is not None, timeout=10000)
    timer.stop()
    assert len(ticks) >= 20  # 0.8 s of reading: the event loop kept running (on the GUI thread: no ticks)
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.3
    assert errors == []
    assert window.grid.scene.fixed.name == "fixed.nii.gz" and window.source_paths["moving"] == str(
        paths.SAMPLE_3D_MOVING
    )
    assert ("fixed", str(paths.SAMPLE_3D_FIXED)) in window.recent_files()


def test_requests_are_applied_in_order_and_a_bad_file_keeps_what_was_shown(qtbot, window, tmp_path, errors):
    window.load_in_background(fixed=paths.SAMPLE_3D_FIXED)
    window.load_in_background(moving=paths.SAMPLE_3D_MOVING)
    window.load_in_background(fixed_labels=paths.SAMPLE_3D_FIXED_LABELS)
    qtbot.waitUntil(lambda: not window._reader.busy and window.grid.scene.fixed_labels is not None, timeout=10000)
    scene = window.grid.scene
    assert scene.fixed is not None and scene.moving is not None and scene.fixed_labels.is_label
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    window.load_in_background(moving=broken)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=10000)
    assert "broken.nii.gz" in errors[0]
    assert window.grid.scene.moving is scene.moving  # nothing the user had is lost


def test_a_dropped_pair_is_read_in_the_background(qtbot, window):
    assert window.drop_files([str(paths.SAMPLE_2D_FIXED), str(paths.SAMPLE_2D_MOVING)], background=True)
    qtbot.waitUntil(lambda: window.grid.scene.moving is not None, timeout=10000)
    assert window.grid.scene.fixed.ndim == 2
