"""Landmarks in the main window: panel (dock), markers (view overlays), placement tool, menu, undo.

``install_landmarks(window)`` is the one call MainWindow makes; it returns the controller, also
kept as ``window.landmarks``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from regviewer.gui.actions import add_action, feature_menu
from regviewer.gui.landmarks.controller import LandmarkController
from regviewer.gui.landmarks.files import LandmarkFiles
from regviewer.gui.landmarks.markers import LandmarkMarkers
from regviewer.gui.landmarks.panel import LandmarkPanel
from regviewer.gui.landmarks.placement import PlacementTool


def install_landmarks(window) -> LandmarkController:
    """Create the landmark controller, dock, markers and actions of ``window``."""
    controller = LandmarkController(window)
    controller.tool = PlacementTool(controller)
    controller.model_undo = lambda: controller.model.undo()
    controller.model_redo = lambda: controller.model.redo()
    for view in window.grid.views:
        markers = LandmarkMarkers(controller)
        controller.markers[view] = markers
        view.add_overlay(markers)
    # while a live drag previews, the preview's set_transform refreshes the markers: no second pass
    controller.changed.connect(
        lambda: None if controller.dragging and controller.live else window.grid.refresh_overlays()
    )
    controller.message.connect(lambda text: window.statusBar().showMessage(text, 5000))

    panel = LandmarkPanel(controller)
    panel.files = LandmarkFiles(controller)
    dock = QDockWidget("Landmarks", window)
    dock.setObjectName("landmarksDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    controller.panel, controller.dock, controller.files = panel, dock, panel.files

    menu = feature_menu(window, "&Landmarks")
    mode = QAction("Landmark &Mode", window)
    mode.setObjectName("landmarkModeAction")
    mode.setCheckable(True)
    mode.setShortcut(QKeySequence("Ctrl+L"))
    mode.toggled.connect(controller.set_placing)
    controller.modeChanged.connect(mode.setChecked)
    menu.addAction(mode)
    for text, slot, shortcut, name in (
        ("&Undo Landmark Edit", controller.model_undo, QKeySequence.StandardKey.Undo, "landmarkUndoAction"),
        ("&Delete Selected Pair", panel.delete_selected, QKeySequence.StandardKey.Delete, "landmarkDeleteAction"),
        ("&Redo Landmark Edit", controller.model_redo, QKeySequence("Ctrl+Shift+Z"), "landmarkRedoAction"),
        ("&Import Landmarks...", panel.files.import_dialog, None, "landmarkImportAction"),
        ("&Export Landmarks...", panel.files.export_dialog, None, "landmarkExportAction"),
        ("&Apply Landmark Fit", controller.apply_fit, None, "landmarkApplyAction"),
    ):
        add_action(menu, text, slot, shortcut, name)
    menu.addSeparator()
    menu.addAction(dock.toggleViewAction())
    window.landmarks = controller
    return controller
