"""Help > Plugins: installed plugins with their package and version, failures in red with the reason."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from regviewer.gui.main_window import MainWindow
from regviewer.gui.plugins_dialog import FAILED_COLOUR, PluginsDialog
from regviewer.plugins import PluginEntry

SHOTS = Path("/tmp/shots")

ENTRIES = [
    PluginEntry(
        "method",
        "broken-method",
        "regviewer-broken",
        "0.3.0",
        "broken_pkg:Method: ImportError: no module named torchvision",
    ),
    PluginEntry("method", "optical-flow-tvl1", "regviewer-tvl1", "0.1.0"),
    PluginEntry("reader", "npy", "regviewer-npy", "0.1.0"),
    PluginEntry("method", "affine", "regviewer", "0.1.0"),
]


def _cells(dialog: PluginsDialog) -> list[list[str]]:
    table = dialog.table
    return [
        [table.item(row, column).text() for column in range(table.columnCount())] for row in range(table.rowCount())
    ]


def test_lists_plugins_versions_and_failures(qtbot):
    dialog = PluginsDialog(ENTRIES)
    qtbot.addWidget(dialog)
    dialog.show()
    rows = _cells(dialog)
    assert [row[1] for row in rows] == ["broken-method", "optical-flow-tvl1", "npy"]  # built-ins hidden
    assert rows[0][2:4] == ["regviewer-broken", "0.3.0"] and "torchvision" in rows[0][4]
    assert dialog.table.item(0, 4).foreground().color() == FAILED_COLOUR
    assert rows[1][4] == "loaded" and "1 failed to load" in dialog.summary.text()
    dialog.show_built_in.setChecked(True)
    assert [row[1] for row in _cells(dialog)][-1] == "affine"
    SHOTS.mkdir(exist_ok=True)
    dialog.grab().save(str(SHOTS / "plugins_dialog.png"))


def test_help_menu_opens_the_dialog_on_what_is_installed(qtbot, settings):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    action = next(a for a in window.findChildren(QAction) if a.text().replace("&", "") == "Plugins...")
    action.trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, PluginsDialog))
    dialog.show_built_in.setChecked(True)
    assert "affine" in [row[1] for row in _cells(dialog)]
