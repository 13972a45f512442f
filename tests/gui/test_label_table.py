"""The Label Dice table: copy (Ctrl+C, context menu, button), CSV (atomic), columns that fit, fast row clicks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from regviewer import paths
from regviewer.core.image import Geometry, Image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.label_stats import label_centre_mm
from regviewer.gui.main_window import MainWindow
from regviewer.gui.panels.label_table import LabelTablePanel
from regviewer.gui.panels.table_export import table_rows

SHOTS = Path("/tmp/shots_r7_polish")


@pytest.fixture
def window(qtbot, settings):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(1400, 950)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_sample("3d")
    assert window.set_transform(read_transform(paths.SAMPLE_3D_TRUTH))
    panel = window.findChild(LabelTablePanel)
    assert panel.controller.wait_for_volume(60)
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=10000)
    window.findChild(type(window.info_dock), "labelTableDock").raise_()
    qtbot.wait(50)
    return window


def test_ctrl_c_copies_selected_rows_or_the_whole_table(qtbot, window):
    panel = window.findChild(LabelTablePanel)
    table = panel.table
    QApplication.clipboard().clear()
    table.setFocus()
    table.clearSelection()
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QApplication.clipboard().text().splitlines()
    assert lines[0].split("\t") == ["Label", "Name", "Dice pre", "Dice post", "HD95 pre", "HD95 post", "Voxels"]
    assert len(lines) == table.rowCount() + 1
    table.selectRow(2)
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QApplication.clipboard().text().splitlines()
    assert len(lines) == 2 and lines[1].split("\t")[0] == table.item(2, 0).text()
    # full precision, not the three decimals shown
    shown = float(table.item(2, 3).text())
    copied = float(lines[1].split("\t")[3])
    assert copied == pytest.approx(shown, abs=5e-4) and copied == table.item(2, 3).data(Qt.ItemDataRole.UserRole)


def test_save_csv_writes_every_row_atomically_and_a_bad_path_gives_a_dialog(qtbot, window, tmp_path, monkeypatch):
    panel = window.findChild(LabelTablePanel)
    table = panel.table
    table.sortItems(3, Qt.SortOrder.DescendingOrder)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "dice.csv"
    target.write_text("old content")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV files (*.csv)"))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["Label", "Name", "Dice pre", "Dice post"] and len(rows) == table.rowCount() + 1
    scores = {row.value: row for row in panel.controller.scores.rows}
    for row in rows[1:]:
        score = scores[int(row[0])]
        assert row[1] == score.name
        assert float(row[3]) == pytest.approx(score.dice_after, rel=1e-12)
        assert int(row[6]) == score.fixed_voxels
    dice = [float(row[3]) for row in rows[1:] if row[3]]
    assert dice == sorted(dice, reverse=True)  # the order shown
    assert [p.name for p in out.iterdir()] == ["dice.csv"]  # no temporary left behind
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append(text))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(blocker / "dice.csv"), ""))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert len(shown) == 1 and "\n" not in shown[0] and "dice.csv" in shown[0]
    assert len(table_rows(table)) == len(rows)  # the table itself is unchanged by a failure


def test_numbers_columns_fit_the_dock_and_a_click_goes_into_its_label(qtbot, window):
    panel = window.findChild(LabelTablePanel)
    table = panel.table
    header = table.horizontalHeader()
    last = table.columnCount() - 1
    right_edge = header.sectionViewportPosition(last) + header.sectionSize(last)
    assert right_edge <= table.viewport().width() + 1  # HD95 and Voxels are not cut off
    longest = max(table.fontMetrics().horizontalAdvance(table.item(r, 5).text()) for r in range(table.rowCount()))
    assert header.sectionSize(5) >= longest + 8  # the HD95 figures are shown whole
    row = 3
    value = panel.label_at(row)
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.grid.scene.value("fixed_labels", window.grid.link.cursor_mm) == value
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SHOTS / "label_table.png"))


def test_label_centre_looks_in_the_label_box_and_finds_the_same_voxel():
    array = np.zeros((30, 40, 50), dtype=np.uint16)
    array[5:12, 10:30, 3:9] = 7
    array[20:25, 2:6, 30:48] = 300
    array[14, 14, 14] = 9
    ring = np.zeros_like(array, dtype=bool)  # a curved label: its centre of mass lies outside it
    z, y, x = np.indices(array.shape)
    ring[(np.hypot(y - 20, x - 25) > 8) & (np.hypot(y - 20, x - 25) < 10) & (z > 25)] = True
    array[ring] = 12
    image = Image(array, Geometry(array.shape, (0.7, 1.1, 2.0), (5.0, -3.0, 8.0), np.eye(3)), is_label=True)
    for value in (7, 300, 9, 12):
        point = label_centre_mm(image, value)
        index = np.round(image.physical_to_index(point)).astype(int)[::-1]
        assert array[tuple(index)] == value
        mask = array == value
        from scipy import ndimage

        centre = np.array(ndimage.center_of_mass(mask))
        where = np.argwhere(mask)
        expected = where[np.argmin(np.sum((where - centre) ** 2, axis=1))]
        assert tuple(index) == tuple(expected)
    assert label_centre_mm(image, 5) is None and label_centre_mm(image, 5000) is None
    signed = Image(array.astype(np.int16) - 1, image.geometry, is_label=True)  # negative values: the full scan
    assert label_centre_mm(signed, 6) is not None
