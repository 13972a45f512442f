"""Menu helpers shared by the main window and the features it installs (overlays, landmarks)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


def add_action(menu: QMenu, text: str, slot, shortcut=None, name: str = "") -> QAction:
    """Add an action calling ``slot()`` to ``menu``; ``shortcut``: a QKeySequence, a standard key or text
    (window-wide); ``name``: a stable objectName for tests and scripts."""
    action = QAction(text, menu.parent() or menu)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if name:
        action.setObjectName(name)
    action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def feature_menu(window: QMainWindow, title: str) -> QMenu:
    """A top-level menu for a feature, placed before Help so that Help stays the last menu."""
    menu = QMenu(title, window)
    bar = window.menuBar()
    help_menu = next((action for action in bar.actions() if action.text().replace("&", "") == "Help"), None)
    if help_menu is None:
        bar.addMenu(menu)
    else:
        bar.insertMenu(help_menu, menu)
    return menu
