"""'Copy as command': the copied line, run through the CLI, gives the transform the GUI run gave.

ITK's multi-threaded metrics add per-thread partial sums in a varying order, so two runs of the same
registration differ slightly (measured on the 2D sample pair: ~1e-6 mm for rigid, up to 0.3 mm for an
affine with mutual information, which amplifies the differences over its iterations). The tests run
ITK on one thread (in this process and in the engine's child process), where runs are bit-for-bit
repeatable, so any difference left is the command's.
"""

from __future__ import annotations

import shlex

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication

from regviewer import paths
from regviewer.cli.main import main
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.gui.main_window import MainWindow


@pytest.fixture(autouse=True)
def _one_itk_thread(monkeypatch):
    monkeypatch.setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")  # engine child processes read it at start
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    yield
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


@pytest.fixture
def window(qtbot, tmp_path, errors):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(fixed=paths.SAMPLE_2D_FIXED, moving=paths.SAMPLE_2D_MOVING, settings=settings)
    qtbot.addWidget(window)
    window.show()
    window.run_dock.runs_folder = tmp_path / "runs"
    yield window
    window.run_dock.shutdown()


def _run(qtbot, dock):
    record = dock.run()
    qtbot.waitUntil(lambda: not dock.controller.busy, timeout=60000)
    assert record.status == "completed", record.result.message
    return record


def _reproduce(dock, record, capsys, errors):
    dock.history.select(record)
    assert dock.history.selected() == [record]
    dock.copy_command_button.click()
    assert errors == []
    line = QGuiApplication.clipboard().text()
    assert line == record.command and line in dock.history.details.toPlainText()
    argv = shlex.split(line)
    assert argv[:2] == ["regviewer", "register"]
    assert main(argv[1:]) == 0, capsys.readouterr().err
    out = argv[argv.index("-o") + 1]
    return line, read_transform(f"{out}/transform.tfm")


def _points(image):
    size = np.array(image.geometry.size, dtype=float)
    corners = np.array(np.meshgrid(*[[0.0, s - 1] for s in size], indexing="ij")).reshape(len(size), -1).T
    return image.index_to_physical(np.vstack([corners, (size - 1) / 2]))


def test_the_copied_command_reproduces_a_run_with_edited_parameters(qtbot, window, capsys, errors):
    dock = window.run_dock
    dock.select_method("rigid")
    dock.form.set_values({"iterations": 60, "sampling_percentage": 20.0, "metric": "ncc"})
    record = _run(qtbot, dock)
    line, transform = _reproduce(dock, record, capsys, errors)
    assert "--method rigid" in line and "--param iterations=60" in line and "--param metric=ncc" in line
    points = _points(read_image(paths.SAMPLE_2D_FIXED))
    gui = record.result.transform.transform_points(points)
    cli = transform.transform_points(points)
    assert np.abs(gui - cli).max() < 1e-6
    assert np.abs(gui - points).max() > 1.0  # a real registration, not the identity


def test_a_chained_run_with_one_stage_edited_reproduces_through_an_init_file_and_a_preset_file(
    qtbot, window, capsys, errors
):
    dock = window.run_dock
    dock.select_method("rigid")
    first = _run(qtbot, dock)
    dock.use_as_start(first)
    dock.select_preset("affine")  # rigid -> affine; edit the affine stage only
    dock._stage_chosen(1)
    dock.form.set_values({"iterations": 40})
    second = _run(qtbot, dock)
    assert second.initial_transform is first.result.transform
    line, transform = _reproduce(dock, second, capsys, errors)
    assert "--init" in line and "chain.json" in line
    points = _points(read_image(paths.SAMPLE_2D_FIXED))
    assert np.abs(second.result.transform.transform_points(points) - transform.transform_points(points)).max() < 1e-6


def test_images_given_in_memory_cannot_be_named(qtbot, tmp_path, errors):
    fixed, moving = read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)
    window = MainWindow(
        fixed=fixed, moving=moving, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    dock = window.run_dock
    dock.select_method("rigid")
    record = _run(qtbot, dock)
    dock.history.select(record)
    dock.copy_command_button.click()
    assert errors and "not loaded from files" in errors[-1] and record.command == ""
    dock.shutdown()


def test_the_copied_command_names_the_channel_of_4d_label_files(qtbot, tmp_path, shared_data, capsys, errors):
    """A one-hot label file read as its integer map (or one channel) is named with --*-labels-channel."""
    from regviewer.core.io.label_channels import ONEHOT, LabelFile

    folder = shared_data / "prostate_cohort" / "test"
    window = MainWindow(
        fixed=folder / "fixed_images" / "case000025.nii.gz",
        moving=folder / "moving_images" / "case000025.nii.gz",
        fixed_labels=LabelFile(str(folder / "fixed_labels" / "case000025.nii.gz"), ONEHOT),
        moving_labels=LabelFile(str(folder / "moving_labels" / "case000025.nii.gz"), 0),
        settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
    )
    qtbot.addWidget(window)
    dock = window.run_dock
    dock.runs_folder = tmp_path / "runs"
    try:
        dock.select_method("rigid")
        dock.form.set_values({"iterations": 10})
        assert dock.inputs.labels_check.isChecked()
        record = _run(qtbot, dock)
        assert record.label_channels == {"fixed_labels": ONEHOT, "moving_labels": 0}
        line, transform = _reproduce(dock, record, capsys, errors)
        assert "--fixed-labels-channel onehot" in line and "--moving-labels-channel 0" in line
        assert transform.ndim == 3
        from dataclasses import replace

        from regviewer.gui.run.record_command import record_command

        masked = replace(record, mask_roles=("fixed",))  # a mask from the one-hot file: no option can name it
        with pytest.raises(ValueError, match="fixed mask comes from one channel of a 4D label file"):
            record_command(masked, tmp_path / "runs", dock.registry)
    finally:
        dock.shutdown()
