"""A 4D one-hot label file opened from the File menu asks how to show it, and is then shown that way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QInputDialog

from regviewer.core.io.label_channels import ONEHOT, LabelFile
from regviewer.gui.label_channel_dialog import ONEHOT_TEXT, channel_choices
from regviewer.gui.main_window import MainWindow

SHOTS = Path("/tmp/shots_r7_polish")


def test_open_labels_asks_for_the_channel_and_shows_the_integer_map(qtbot, settings, errors, shared_data, monkeypatch):
    folder = shared_data / "prostate_cohort" / "test"
    window = MainWindow(
        fixed=folder / "fixed_images" / "case000025.nii.gz",
        moving=folder / "moving_images" / "case000025.nii.gz",
        settings=settings,
    )
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    labels = folder / "fixed_labels" / "case000025.nii.gz"
    asked = []

    def answer(parent, title, text, items, current, editable):
        asked.append(items)
        return items[0], True  # the integer map from one-hot

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(labels), ""))
    monkeypatch.setattr(QInputDialog, "getItem", answer)
    window._open_dialog("fixed_labels")
    qtbot.waitUntil(lambda: window.grid.scene.fixed_labels is not None, timeout=10000)
    assert errors == []
    assert asked and asked[0][0] == ONEHOT_TEXT and len(asked[0]) == 4
    assert set(np.unique(window.grid.scene.fixed_labels.array)) == {0, 1, 2, 3}
    # cancelling keeps what was shown; a single channel is read as its own map
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("", False))
    window._open_dialog("moving_labels")
    qtbot.wait(100)
    assert window.grid.scene.moving_labels is None
    monkeypatch.setattr(QInputDialog, "getItem", lambda parent, title, text, items, *a: (items[2], True))
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: (str(folder / "moving_labels" / "case000025.nii.gz"), "")
    )
    window._open_dialog("moving_labels")
    qtbot.waitUntil(lambda: window.grid.scene.moving_labels is not None, timeout=10000)
    assert set(np.unique(window.grid.scene.moving_labels.array)) == {0, 1}
    assert errors == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "prostate_onehot.png"))


def test_the_question_lists_the_integer_map_then_each_channel(qtbot):
    choices = channel_choices(3)
    assert [channel for _text, channel in choices] == [ONEHOT, 0, 1, 2]
    dialog = QInputDialog()
    qtbot.addWidget(dialog)
    dialog.setWindowTitle("Label map with several channels")
    dialog.setLabelText("case000025.nii.gz holds 3 label volumes (one per structure).\nShow them as:")
    dialog.setComboBoxItems([text for text, _c in choices])
    dialog.show()
    qtbot.waitExposed(dialog)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SHOTS / "label_channel_dialog.png"))
    assert str(LabelFile("/x/case.nii.gz", ONEHOT)) == "/x/case.nii.gz"


def test_a_session_keeps_which_channel_of_a_4d_label_file_was_read(
    qtbot, settings, errors, shared_data, tmp_path, monkeypatch
):
    """Saved and opened again, the labels are the same integer map / channel, and so is the next save."""
    monkeypatch.setenv("REGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    folder = shared_data / "prostate_cohort" / "test"
    window = MainWindow(
        fixed=folder / "fixed_images" / "case000025.nii.gz",
        moving=folder / "moving_images" / "case000025.nii.gz",
        fixed_labels=LabelFile(str(folder / "fixed_labels" / "case000025.nii.gz"), ONEHOT),
        moving_labels=LabelFile(str(folder / "moving_labels" / "case000025.nii.gz"), 2),
        settings=settings,
    )
    qtbot.addWidget(window)
    assert window.workspace.source_options("fixed_labels") == {"label_channel": ONEHOT}
    assert window.save_session(tmp_path / "study.regviewer")

    fresh = MainWindow(settings=settings)
    qtbot.addWidget(fresh)
    assert fresh.open_session(tmp_path / "study.regviewer")
    for role in ("fixed_labels", "moving_labels"):
        np.testing.assert_array_equal(fresh.workspace.image(role).array, window.workspace.image(role).array)
    assert set(np.unique(fresh.workspace.fixed_labels.array)) == {0, 1, 2, 3}
    assert fresh.workspace.source_options("moving_labels") == {"label_channel": 2}
    assert fresh.save_session(tmp_path / "again.regviewer.zip")  # the channel survives a second save
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert again.open_session(tmp_path / "again.regviewer.zip")
    np.testing.assert_array_equal(again.workspace.moving_labels.array, window.workspace.moving_labels.array)
    assert errors == []
    for each in (window, fresh, again):
        each.sessions.shutdown(keep_recovery=False)
