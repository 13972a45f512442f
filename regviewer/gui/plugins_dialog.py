"""Help > Plugins: what is installed (methods, readers, writers, trainers), from which package and
version, and every plugin that failed to load with the reason, so that a user can tell a plugin
author exactly what went wrong without opening a terminal.
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from regviewer.plugins import PluginEntry, format_plugins

COLUMNS = ("Kind", "Name", "Package", "Version", "Status")
FAILED_COLOUR = QColor(190, 30, 30)


class PluginsDialog(QDialog):
    """A table of ``entries``; plugins first, built-ins hidden unless asked for."""

    def __init__(self, entries: list[PluginEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.entries = entries
        failed = sum(1 for entry in entries if entry.error)
        plugins = sum(1 for entry in entries if not entry.built_in)
        summary = f"{plugins} item(s) from plugins" + (
            f", {failed} failed to load (reason in the Status column)" if failed else ""
        )
        self.summary = QLabel(summary + ". Plugins are Python packages; see docs/plugins.md to write one.")
        self.summary.setWordWrap(True)
        self.show_built_in = QCheckBox("Show built-in methods")
        self.show_built_in.toggled.connect(self._fill)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("pluginsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy as Text", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(format_plugins(self.entries)))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.summary, self.show_built_in, self.table, buttons):
            layout.addWidget(widget)
        self.resize(760, 360)
        self._fill()

    def shown_entries(self) -> list[PluginEntry]:
        return [entry for entry in self.entries if self.show_built_in.isChecked() or not entry.built_in]

    def _fill(self) -> None:
        shown = self.shown_entries()
        self.table.setRowCount(len(shown))
        for row, entry in enumerate(shown):
            status = f"failed: {entry.error}" if entry.error else ("built-in" if entry.built_in else "loaded")
            values = (entry.kind, entry.name, entry.package or "(unknown)", entry.version, status)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(entry.error or value)
                if entry.error:
                    item.setForeground(FAILED_COLOUR)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)


def show_plugins_dialog(parent: QWidget | None = None) -> PluginsDialog:
    """Open Help > Plugins for what is installed now (modeless; returns the dialog)."""
    from regviewer.plugins import installed_plugins

    dialog = PluginsDialog(installed_plugins(), parent)
    dialog.show()
    return dialog
