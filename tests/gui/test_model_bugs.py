"""Stale state and run-protocol bugs a new user met, which the application model makes impossible
(pytest-qt, offscreen): windows and labels belong to their image, warnings are visible, figures never
hold back the next run, Compare shows both runs, the metric plot starts clean, closing mid-run is clean,
and "Copy as command" leaves no empty folder behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from regviewer import paths
from regviewer.core.image import Image
from regviewer.core.transforms import AffineTransform
from regviewer.gui.main_window import MainWindow
from regviewer.registration.base import Parameter, Result, resolve_parameters
from regviewer.registration.registry import Registry
from tests.gui.run_methods import make_registry


@pytest.fixture
def window(qtbot, tmp_path, errors):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(fixed=paths.SAMPLE_2D_FIXED, moving=paths.SAMPLE_2D_MOVING, settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.run_dock.shutdown()


def _wait(qtbot, dock, timeout=60000):
    qtbot.waitUntil(lambda: not dock.controller.busy, timeout=timeout)


def test_a_new_moving_image_gets_its_own_window_level(qtbot, window):
    moving = window.grid.scene.moving
    bright = Image(moving.array.astype(np.float32) * 30.0 + 100.0, moving.geometry, name="bright")  # values to ~8000
    assert window.load(moving=bright)
    level = window.grid.link.windows["moving"]
    assert level.high > 2000, level  # made for the new image, not the 0..255 of the previous one
    assert window.viewer.windows["moving"] == level  # the model holds it
    assert window.load(moving=paths.SAMPLE_2D_MOVING)
    assert window.grid.link.windows["moving"].high < 400


def test_moving_labels_go_with_their_image(qtbot, settings, errors):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.open_sample("3d")
    window.overlays.wait_for_volume(60)
    assert window.label_table.table.rowCount() > 0
    moving = window.grid.scene.moving
    other = Image(moving.array.copy(), moving.geometry, name="another-moving")
    assert window.load(moving=other)
    assert window.grid.scene.moving_labels is None and window.workspace.moving_labels is None
    assert window.grid.scene.fixed_labels is not None  # the fixed side keeps its labels
    window.overlays.wait_for_volume(60)
    assert window.label_table.table.rowCount() == 0  # no stale Dice rows
    assert window.source_paths.get("moving_labels") is None and errors == []


class WarningMethod:
    """A method whose result carries an engine warning (like a diverged stage) and folds (a mirror)."""

    name = "mirror"
    label = "Mirror (test)"
    description = "A test method returning a folding transform with a warning."
    parameters = (Parameter("steps", "int", 3, "Steps", "", 0, 100),)

    def run(self, request, progress, cancel):
        values = resolve_parameters(self, request.parameters)
        ndim = request.fixed.ndim
        matrix = np.eye(ndim)
        matrix[0, 0] = -1.0  # det < 0 everywhere: 100 % folded
        centre = request.fixed.index_to_physical((np.array(request.fixed.geometry.size) - 1) / 2.0)
        transform = AffineTransform(matrix, centre - matrix @ centre)
        return Result(
            self.name,
            transform,
            "completed",
            values,
            0.01,
            (),
            "done",
            ("warning: the mirror stage diverged (test); kept its transform",),
        )


def _registry_with(*methods) -> Registry:
    registry = make_registry()
    for method in methods:
        registry.add(method.name, method)
    return registry


def test_warnings_are_visible_in_the_progress_panel_and_history(qtbot, window, errors):
    dock = window.run_dock
    dock.set_registry(_registry_with(WarningMethod))
    dock.select_method("mirror")
    record = dock.run()
    _wait(qtbot, dock)
    assert record.status == "completed" and errors == []
    assert window.workspace.transform is record.result.transform  # the model holds the transform shown
    warnings = record.warnings
    assert any("diverged" in w for w in warnings) and any("folds" in w for w in warnings)
    assert dock.progress.warnings_label.isVisible()
    assert "diverged" in dock.progress.warnings_label.text() and "folds" in dock.progress.warnings_label.text()
    item = dock.history_list.item(0).text()
    assert "warning" in item and "completed" in item
    dock.history.select(record)
    assert "WARNING: " in dock.history.details.toPlainText()
    window.grab().save("/tmp/shots_r7_warnings.png")


def test_figures_never_hold_back_the_next_run(qtbot, window, monkeypatch):
    """Run is enabled once the result is back; slow figures of run 1 arrive while run 2 goes."""
    from regviewer.gui.run import worker

    def slow_figures(transform, evaluation, stop=lambda: False):
        time.sleep(3.0)
        yield {"before": {"ncc": 0.1}, "after": {"ncc": 0.9}}

    monkeypatch.setattr(worker, "figures_in_steps", slow_figures)
    dock = window.run_dock
    dock.set_registry(make_registry())  # not the default registry: runs in-process, where the patch applies
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 5, "step_s": 0.0})
    first = dock.run()
    qtbot.waitUntil(lambda: first.result is not None, timeout=30000)
    assert dock.run_button.isEnabled() and not dock.controller.running
    assert dock.controller.busy and first.figures is None  # the figures are still computing
    second = dock.run()
    assert second is not None and second.run_id == first.run_id + 1
    _wait(qtbot, dock)
    assert first.figures["after"]["ncc"] == 0.9 and second.figures["after"]["ncc"] == 0.9


def test_quick_figures_come_first_then_hd95(qtbot, window, shared_data):
    labels = shared_data / "brain2d"
    assert window.load(fixed_labels=labels / "r16sliceLM.nii.gz", moving_labels=labels / "r85sliceLM.nii.gz")
    dock = window.run_dock
    seen = []
    dock.controller.evaluated.connect(lambda payload: seen.append(dict(payload[1])))
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 5, "step_s": 0.0})
    record = dock.run()
    _wait(qtbot, dock)
    assert len(seen) == 2 and seen[0].get("partial") and "hd95_mean_mm" not in seen[0]["after"]
    assert "dice_mean" in seen[0]["after"] and "hd95_mean_mm" in record.figures["after"]
    assert not record.figures_pending


def test_compare_shows_both_runs(qtbot, window):
    dock = window.run_dock
    dock.set_registry(make_registry())
    dock.select_method("slow-shift")
    records = []
    for steps in (5, 40):
        dock.form.set_values({"steps": steps, "step_s": 0.0})
        records.append(dock.run())
        _wait(qtbot, dock)
    dock.history.list.clearSelection()
    dock.history.list.item(0).setSelected(True)
    dock.history.list.item(1).setSelected(True)
    text = dock.history.details.toPlainText()
    first_line = text.splitlines()[0]
    assert "#1 Slow shift" in first_line and "#2 Slow shift" in first_line  # side by side, one column each
    assert "steps=5" in text and "steps=40" in text
    ncc_line = next(line for line in text.splitlines() if line.startswith("NCC"))
    assert ncc_line.count("->") == 2
    dock.tabs.setCurrentIndex(1)
    window.grab().save("/tmp/shots_r7_compare.png")


def test_the_metric_plot_starts_clean_for_a_method_without_metric(qtbot, window):
    dock = window.run_dock
    dock.set_registry(_registry_with(WarningMethod))
    dock.select_method("slow-shift")
    dock.form.set_values({"steps": 200, "step_s": 0.0})
    dock.run()
    _wait(qtbot, dock)
    assert dock.progress.points() > 100
    dock.select_method("mirror")
    dock.run()
    _wait(qtbot, dock)
    assert dock.progress.points() == 0
    (x0, x1), (y0, y1) = dock.progress.plot.getViewBox().viewRange()
    assert x1 < 50, (x0, x1)  # not the previous run's 200 iterations
    assert "no metric" in dock.progress.no_metric.toPlainText()


def test_copy_as_command_leaves_no_empty_folder(qtbot, window):
    dock = window.run_dock
    dock.runs_folder = None
    dock.select_method("rigid")
    dock.form.set_values({"iterations": 5})
    record = dock.run()
    _wait(qtbot, dock)
    line = dock.copy_command(record)
    assert line.startswith("regviewer register") and dock.runs_folder is not None
    assert not dock.runs_folder.exists()  # nothing in memory had to be written: no folder made


def test_closing_the_window_mid_run_cancels_and_waits_cleanly(tmp_path):
    """In a fresh process (Qt aborts the whole process on a destroyed running QThread)."""
    script = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from regviewer import paths
        from regviewer.gui.main_window import MainWindow
        from tests.gui.run_methods import make_registry
        for isolated in (False, True):
            window = MainWindow(fixed=paths.SAMPLE_2D_FIXED, moving=paths.SAMPLE_2D_MOVING,
                                settings=QSettings({str(tmp_path / "s.ini")!r}, QSettings.Format.IniFormat))
            window.show()
            dock = window.run_dock
            if isolated:
                dock.select_preset("deformable")
            else:
                dock.set_registry(make_registry())
                dock.select_method("slow-shift")
                dock.form.set_values({{"steps": 100000, "step_s": 0.01}})
            record = dock.run()
            end = time.time() + 20
            while record.result is None and not dock.progress.points() and time.time() < end:
                app.processEvents(); time.sleep(0.01)
            window.close()
            assert not dock.controller.busy, "threads left running"
            print("status", record.status)
            window.deleteLater()
            app.processEvents()
        print("closed cleanly")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed cleanly" in done.stdout and "QThread: Destroyed" not in done.stderr
    assert done.stdout.count("status cancelled") == 2, done.stdout


def test_the_viewer_state_follows_the_views_and_restores_them(qtbot, settings):
    from regviewer.app import ViewerState

    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.open_sample("3d")
    window.grid.views[3].set_mode("difference")
    window.grid.views[1].set_plane("coronal")
    window.set_layout("1x3")
    data = window.viewer.snapshot()
    assert data["modes"][3] == "difference" and data["planes"][1] == "coronal" and data["layout"] == "1x3"
    other = MainWindow(settings=settings)
    qtbot.addWidget(other)
    assert other.open_sample("3d")
    other.viewer.restore(data)
    other.grid.apply_state()
    assert other.grid.views[3].mode == "difference" and other.grid.views[1].plane == "coronal"
    assert other.grid.layout_name == "1x3" and isinstance(other.viewer, ViewerState)
    assert other.grid.link.windows["moving"] == window.grid.link.windows["moving"]


def test_an_engine_child_that_dies_at_start_ends_the_run_and_frees_run(qtbot, window, errors, monkeypatch):
    """The child raising at import (e.g. a planted module) used to leave Run disabled and a zombie."""
    from regviewer.registration import isolated

    code = "import sys; sys.stderr.write('ImportError: numpy is broken here\\n'); sys.exit(1)"
    monkeypatch.setattr(isolated, "child_argv", lambda: [sys.executable, "-c", code])
    dock = window.run_dock
    dock.select_method("rigid")
    assert dock.isolate_check.isEnabled() and dock.isolate_check.isChecked()
    record = dock.run()
    _wait(qtbot, dock, timeout=30000)
    assert record.status == "failed" and "exit code 1" in record.result.message
    assert "numpy is broken here" in record.result.message and any("numpy is broken here" in e for e in errors)
    assert dock.run_button.isEnabled() and not dock.controller.busy
