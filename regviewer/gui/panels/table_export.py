"""Copy a table to the clipboard (tab-separated, pastes into a spreadsheet) or save it as CSV.

Rows come in the order shown (after the user's sorting), with the header first. A cell whose
``Qt.UserRole`` holds a number is written from that number (full precision: the table may show
three decimals), infinite as "inf" and NaN as an empty cell; other cells as their text.
``install_copy_and_save(table, parent, suggested_name)`` adds Ctrl+C and a context menu (Copy,
Copy Table, Save as CSV...); the CSV goes through the atomic writer (a failed write leaves any
earlier file whole).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox, QTableWidget

from regviewer.core.errors import RegViewerError
from regviewer.core.io.atomic import write_text_atomic
from regviewer.logs import log_error


def _cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    if item is None:
        return ""
    value = item.data(Qt.ItemDataRole.UserRole)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return ""
        if isinstance(value, float) and math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value) if isinstance(value, float) else str(value)
    return item.text()


def table_rows(table: QTableWidget, selected_only: bool = False) -> list[list[str]]:
    """Header and rows of the visible columns, in the order shown (``selected_only``: the selected rows)."""
    columns = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    header = [
        table.horizontalHeaderItem(c).text().replace("\n", " ") if table.horizontalHeaderItem(c) else str(c)
        for c in columns
    ]
    rows = range(table.rowCount())
    if selected_only:
        rows = sorted({index.row() for index in table.selectionModel().selectedRows()})
    return [header] + [[_cell(table, row, column) for column in columns] for row in rows]


def table_text(table: QTableWidget, selected_only: bool = False, delimiter: str = "\t") -> str:
    """The table as delimited text (tab for the clipboard, comma for CSV)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerows(table_rows(table, selected_only))
    return buffer.getvalue()


def copy_table(table: QTableWidget, selected_only: bool = True) -> str:
    """Copy the selected rows (all rows when none is selected) to the clipboard; returns the text."""
    selected = selected_only and table.selectionModel() is not None and bool(table.selectionModel().selectedRows())
    text = table_text(table, selected_only=selected)
    QApplication.clipboard().setText(text)
    return text


def save_table_csv(table: QTableWidget, path: str | Path) -> Path:
    """Write every row as CSV (atomically). Raises ``RegViewerError`` with a one-line message."""
    return write_text_atomic(Path(path), table_text(table, delimiter=","))


class _CopyKey(QObject):
    """Takes Ctrl+C while the table has focus (the window's Copy Views shortcut would take it otherwise)."""

    def __init__(self, table: QTableWidget) -> None:
        super().__init__(table)
        self.table = table

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and event.matches(
            QKeySequence.StandardKey.Copy
        ):
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                copy_table(self.table)
            return True
        return False


def save_dialog(table: QTableWidget, parent, suggested_name: str) -> Path | None:
    """Ask for a CSV file and save the table there; a failure gives a one-line dialog."""
    path, _ = QFileDialog.getSaveFileName(
        parent, "Save the table as CSV", suggested_name, "CSV files (*.csv);;All files (*)"
    )
    if not path:
        return None
    if not path.lower().endswith(".csv") and "." not in Path(path).name:
        path += ".csv"
    try:
        return save_table_csv(table, path)
    except (RegViewerError, OSError) as error:
        log_error(f"Cannot save the table: {error}")
        QMessageBox.warning(parent, "Cannot save the table", str(error))
        return None


def install_copy_and_save(table: QTableWidget, parent, suggested_name: str) -> None:
    """Ctrl+C and a context menu (Copy / Copy Table / Save as CSV...) on ``table``."""
    table.installEventFilter(_CopyKey(table))
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def menu_at(position) -> None:
        menu = QMenu(table)
        for text, slot in (
            ("Copy", lambda: copy_table(table)),
            ("Copy Table", lambda: copy_table(table, selected_only=False)),
            ("Save as CSV...", lambda: save_dialog(table, parent, suggested_name)),
        ):
            action = QAction(text, menu)
            action.triggered.connect(lambda _checked=False, s=slot: s())
            menu.addAction(action)
        menu.exec(table.viewport().mapToGlobal(position))

    table.customContextMenuRequested.connect(menu_at)
