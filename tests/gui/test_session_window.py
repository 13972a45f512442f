"""Sessions in the main window: save -> open in a fresh window, a missing image, recovery after SIGKILL, export."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from regviewer.app.recovery import RecoveryStore
from regviewer.app.run_history import RunRecord
from regviewer.core.io.transforms_io import read_transform
from regviewer.gui.main_window import MainWindow
from regviewer.paths import SAMPLE_DATA
from regviewer.registration.base import Result
from regviewer.registration.pipeline import Stage

SAMPLE = SAMPLE_DATA / "brain3d"
POINTS = np.array([[0.0, 0.0, 0.0], [20.0, -10.0, 5.0]])


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz", "moving_labels.nii.gz"):
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def _window(qtbot, tmp_path: Path, **items) -> MainWindow:
    window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), **items)
    qtbot.addWidget(window)
    return window


def _add_run(window: MainWindow, transform) -> RunRecord:  # noqa: ANN001
    history = window.history
    record = RunRecord(
        history.new_id(),
        "affine -> bspline",
        None,
        (Stage("affine", {"iterations": (40,)}),),
        "identity",
        None,
        "no mask",
        dict(window.workspace.sources),
        images=(window.workspace.fixed, window.workspace.moving),
    )
    history.add(record)
    history.set_result(
        record.run_id, Result("affine,bspline", transform, "completed", runtime_s=2.0, message="converged")
    )
    history.set_figures(record.run_id, {"before": {"ncc": 0.5}, "after": {"ncc": 0.9}})
    return record


def test_save_then_open_in_a_fresh_window(qtbot, tmp_path: Path, data: Path) -> None:
    window = _window(
        qtbot,
        tmp_path,
        fixed=data / "fixed.nii.gz",
        moving=data / "moving.nii.gz",
        fixed_labels=data / "fixed_labels.nii.gz",
        moving_labels=data / "moving_labels.nii.gz",
    )
    truth = read_transform(SAMPLE / "fixed_to_moving.tfm")
    _add_run(window, truth)
    window.set_transform(truth)
    window.landmark_model.for_ndim(3).add_pair((1.0, 2.0, 3.0), (1.5, 2.5, 3.5), name="ventricle")
    window.landmark_model.for_ndim(3).add_pair((4.0, 5.0, 6.0), None, name="open", active=False)
    window.grid.views[2].set_mode("difference")
    window.grid.views[1].set_plane("coronal")
    window.set_layout("1x3")
    window.grid.set_cursor(np.array([10.0, -12.0, 8.0]))
    assert window.isWindowModified()
    assert window.save_session(tmp_path / "study.regviewer")
    assert not window.isWindowModified() and window.windowTitle() == "study[*] - RegViewer"

    fresh = _window(qtbot, tmp_path / "other")
    assert fresh.open_session(tmp_path / "study.regviewer"), fresh.errors
    for role in ("fixed", "moving", "fixed_labels", "moving_labels"):
        np.testing.assert_array_equal(fresh.workspace.image(role).array, window.workspace.image(role).array)
    np.testing.assert_allclose(
        fresh.workspace.transform.transform_points(POINTS), truth.transform_points(POINTS), atol=1e-9
    )
    np.testing.assert_allclose(
        fresh.grid.scene.transform.transform_points(POINTS), truth.transform_points(POINTS), atol=1e-9
    )
    assert fresh.landmark_model.snapshot() == window.landmark_model.snapshot()
    assert [(r.run_id, r.title, r.status) for r in fresh.history] == [(1, "affine -> bspline", "completed")]
    assert fresh.history.get(1).figures["after"]["ncc"] == 0.9
    assert fresh.viewer.layout == "1x3"
    assert fresh.grid.views[2].mode == "difference" and fresh.grid.views[1].plane == "coronal"
    np.testing.assert_allclose(fresh.viewer.cursor_mm, [10.0, -12.0, 8.0])
    assert fresh.run_dock.history_list.count() == 1
    assert fresh.run_dock.tabs.tabText(1) == "History (1)"
    assert not fresh.isWindowModified() and fresh.windowTitle() == "study[*] - RegViewer"
    fresh.sessions.shutdown(keep_recovery=False)
    window.sessions.shutdown(keep_recovery=False)


def test_opening_from_the_menu_reads_the_images_off_the_gui_thread(qtbot, tmp_path: Path, data: Path) -> None:
    import threading

    window = _window(qtbot, tmp_path, fixed=data / "fixed.nii.gz", moving=data / "moving.nii.gz")
    assert window.save_session(tmp_path / "study.regviewer")
    fresh = _window(qtbot, tmp_path / "other")
    host_read = fresh.session_host.read_session
    threads: list[str] = []
    fresh.session_host.read_session = lambda opened: (
        threads.append(threading.current_thread().name) or host_read(opened)
    )
    assert fresh.sessions.open_session(tmp_path / "study.regviewer", interactive=True)
    assert fresh.sessions.opening and fresh.workspace.fixed is None  # returned at once; the images come later
    assert "Opening study" in fresh.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not fresh.sessions.opening, timeout=20000)
    assert threads == ["regviewer-open-session"]
    np.testing.assert_array_equal(fresh.workspace.moving.array, window.workspace.moving.array)
    assert fresh.windowTitle() == "study[*] - RegViewer" and not fresh.isWindowModified()
    fresh.sessions.shutdown(keep_recovery=False)
    window.sessions.shutdown(keep_recovery=False)


def test_missing_image_is_reported_and_the_rest_opens(qtbot, tmp_path: Path, data: Path, monkeypatch) -> None:
    shown: list[str] = []
    window = _window(
        qtbot,
        tmp_path,
        fixed=data / "fixed.nii.gz",
        moving=data / "moving.nii.gz",
        moving_labels=data / "moving_labels.nii.gz",
    )
    window.landmark_model.for_ndim(3).add_pair((1.0, 2.0, 3.0), (1.0, 2.0, 3.0))
    assert window.save_session(tmp_path / "study.regviewer.zip")
    (data / "moving_labels.nii.gz").unlink()
    fresh = _window(qtbot, tmp_path / "other")
    monkeypatch.setattr(fresh, "show_error", lambda title, message: shown.append(message) or False)
    assert fresh.open_session(tmp_path / "study.regviewer.zip")
    assert len(shown) == 1 and "moving labels image not found at" in shown[0]
    assert (
        fresh.workspace.moving_labels is None
        and fresh.workspace.fixed is not None
        and fresh.workspace.moving is not None
    )
    assert len(fresh.landmark_model.for_ndim(3)) == 1
    fresh.sessions.shutdown(keep_recovery=False)
    window.sessions.shutdown(keep_recovery=False)


def test_quit_asks_and_cancel_keeps_the_window(qtbot, tmp_path: Path, data: Path, monkeypatch) -> None:
    window = _window(qtbot, tmp_path, fixed=data / "fixed.nii.gz", moving=data / "moving.nii.gz")
    window.show()
    window.landmark_model.for_ndim(3).add_pair((1.0, 2.0, 3.0), None)
    answers = ["cancel"]
    monkeypatch.setattr("regviewer.gui.session_actions.ask_unsaved", lambda parent, name: answers.pop(0))
    window.sessions.request_quit()
    assert window.isVisible() and answers == []
    answers.append("discard")
    window.sessions.request_quit()
    assert not window.isVisible() and answers == []
    assert RecoveryStore().recoverable() == [] and not any((tmp_path / "recovery").glob("*/session.regviewer"))


CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from regviewer.gui.main_window import MainWindow
    data, settings = sys.argv[1], sys.argv[2]
    window = MainWindow(fixed=data + "/fixed.nii.gz", moving=data + "/moving.nii.gz",
                        settings=QSettings(settings, QSettings.Format.IniFormat))
    window.show()
    def place():
        landmarks = window.landmark_model.for_ndim(3)
        for index in range(3):
            landmarks.add_pair((float(index), 2.0, 3.0), (float(index), 2.5, 3.5), name=f"placed {index}")
        print("placed", flush=True)
    import numpy as np
    steps = iter(range(10 ** 9))
    def keep_editing():  # the user goes on looking around until the kill (autosaves keep coming)
        window.grid.set_cursor(np.array([np.sin(next(steps) / 7) * 20.0, 0.0, 0.0]))
    QTimer.singleShot(200, place)
    timer = QTimer(); timer.timeout.connect(keep_editing); timer.start(50)
    app.exec()
""")


def test_recovery_after_sigkill(qtbot, tmp_path: Path, data: Path) -> None:
    env = dict(os.environ, REGVIEWER_RECOVERY_DIR=str(tmp_path / "recovery"), QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), str(tmp_path / "child.ini")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "placed"
        time.sleep(10)  # the landmarks were placed 10 s before the kill
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    window = _window(qtbot, tmp_path / "next")
    asked = []
    assert window.sessions.offer_recovery(ask=lambda parent, found, others: asked.append(found) or "recover")
    assert "fixed" in asked[0].title and "moving" in asked[0].title  # the image names: no session file yet
    names = [pair.name for pair in window.landmark_model.for_ndim(3).pairs]
    assert names == ["placed 0", "placed 1", "placed 2"]
    assert window.workspace.fixed is not None and window.workspace.moving is not None
    assert window.isWindowModified()
    window.sessions.shutdown(keep_recovery=False)


def test_export_writes_the_cli_layout(qtbot, tmp_path: Path, data: Path) -> None:
    window = _window(
        qtbot,
        tmp_path,
        fixed=data / "fixed.nii.gz",
        moving=data / "moving.nii.gz",
        fixed_labels=data / "fixed_labels.nii.gz",
        moving_labels=data / "moving_labels.nii.gz",
    )
    record = _add_run(window, read_transform(SAMPLE / "fixed_to_moving.tfm"))
    assert window.sessions.export_result(record.run_id, tmp_path / "out"), window.errors
    names = {path.name for path in (tmp_path / "out").iterdir()}
    assert names == {
        "warped.nii.gz",
        "transform.h5",
        "transform_inverse_moving_to_fixed.h5",
        "displacement.nii.gz",
        "jacobian.nii.gz",
        "warped_labels.nii.gz",
        "metrics.json",
        "report.html",
    }
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["after"]["dice_mean"] > metrics["before"]["dice_mean"]
    assert "data:image/png;base64," in (tmp_path / "out" / "report.html").read_text()  # the view grid
    window.sessions.shutdown(keep_recovery=False)


def test_session_dialogs_never_start_inside_the_bundled_sample_data(qtbot, tmp_path: Path, data: Path) -> None:
    """Opening the demo remembers its folder (inside the installed package); a session is not saved there."""
    window = _window(qtbot, tmp_path)
    window.sessions.settings.setValue("lastFolder", str(SAMPLE))
    assert window.sessions._folder() == str(Path.home())
    window.sessions.settings.setValue("lastFolder", str(data))
    assert window.sessions._folder() == str(data)
    window.sessions.shutdown(keep_recovery=False)
