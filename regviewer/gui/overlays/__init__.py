"""Deformation and label overlays for the slice views, their docks, menu and exports.

``install_overlays(window)`` is the one call the main window makes: it creates the shared
``OverlayController`` (``window.overlays``), attaches the overlay items to every view, adds the
"Overlays" and "Label Dice" docks and an "Overlays" menu (fold navigation, colour tables,
exports). ``install_on_grid(grid)`` does the view part alone (used by ``regviewer render``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from regviewer.core.colour_table import read_colour_table
from regviewer.core.errors import RegViewerError
from regviewer.gui.actions import add_action, feature_menu
from regviewer.gui.overlays.controller import OverlayController
from regviewer.gui.overlays.export import export_dialog
from regviewer.gui.overlays.layers import install_on_view


def install_on_grid(grid, parent=None) -> OverlayController:
    """A controller for a view grid, with overlay items on each of its views."""
    controller = OverlayController(grid, parent if parent is not None else grid)
    for index, view in enumerate(grid.views):
        install_on_view(controller, view, index)
    return controller


RENDER_NAMES = {
    "grid": "grid",
    "jacobian": "jacobian",
    "magnitude": "magnitude",
    "arrows": "arrows",
    "labels": "contours",
    "contours": "contours",
    "agreement": "agreement",
}


def parse_overlay_names(text: str | None) -> tuple[str, ...]:
    """ "grid,jacobian,labels" -> overlay kinds; a clear error for an unknown name."""
    from regviewer.core.errors import InputMismatchError

    if not text:
        return ()
    kinds = []
    for name in (part.strip().lower() for part in text.split(",")):
        if name not in RENDER_NAMES:
            raise InputMismatchError(f"--overlay: unknown overlay {name!r} (choose from {', '.join(RENDER_NAMES)})")
        kinds.append(RENDER_NAMES[name])
    return tuple(dict.fromkeys(kinds))


def render_overlays(grid, kinds: tuple[str, ...]) -> OverlayController | None:
    """Draw overlays on a view grid built for a figure, each on its default views (see settings.DEFAULT_VIEWS).

    Label contours replace the filled label colours, which would hide them.
    """
    from regviewer.core.errors import InputMismatchError

    if not kinds:
        return None
    scene = grid.scene
    if "contours" in kinds and scene.fixed_labels is None and scene.moving_labels is None:
        raise InputMismatchError("--overlay labels needs a label map (--labels FIXED [MOVING])")
    if "agreement" in kinds and (scene.fixed_labels is None or scene.moving_labels is None):
        raise InputMismatchError("--overlay agreement needs both label maps (--labels FIXED MOVING)")
    controller = install_on_grid(grid)
    for kind in kinds:
        controller.settings = controller.settings.with_options(kind, enabled=True)
    if "contours" in kinds:
        grid.link.set_options(show_labels=False)
    grid.refresh_overlays()
    return controller


def _dock(window, title: str, name: str, widget, scroll: bool = False) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    if scroll:
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(widget)
        widget = area
    dock.setWidget(widget)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock


def _load_colour_table(window) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window,
        "Open a colour table (FreeSurfer, Slicer or ITK-SNAP)",
        str(window.settings.value("lastFolder", "")),
        "Colour tables (*.txt *.ctbl *.lut *.label);;All files (*)",
    )
    if path:
        load_colour_table(window, path)


def load_colour_table(window, path) -> bool:
    """Name and colour labels from a FreeSurfer / Slicer / ITK-SNAP colour table file."""
    try:
        table = read_colour_table(path)
    except RegViewerError as error:
        return window.show_error("Cannot open the colour table", str(error))
    window.overlays.set_colour_table(table)
    return True


def install_overlays(window) -> OverlayController:
    """Overlays, docks and menu of the main window (see the module docstring)."""
    from regviewer.gui.panels.label_table import LabelTablePanel
    from regviewer.gui.panels.overlay_panel import OverlayPanel

    controller = install_on_grid(window.grid, window)
    window.overlays = controller
    window.overlay_panel = OverlayPanel(controller)
    window.overlay_dock = _dock(window, "Overlays", "overlayDock", window.overlay_panel, scroll=True)
    window.label_table = LabelTablePanel(controller)
    window.label_dock = _dock(window, "Label Dice", "labelTableDock", window.label_table)

    menu = feature_menu(window, "&Overlays")
    menu.addAction(window.overlay_dock.toggleViewAction())
    menu.addAction(window.label_dock.toggleViewAction())
    menu.addSeparator()

    def action(text: str, slot, shortcut: str | None = None, name: str = "") -> QAction:
        return add_action(menu, text, slot, shortcut, name)

    action("&Next Fold", lambda: controller.go_to_fold(1), "F8", "nextFoldAction")
    action("&Previous Fold", lambda: controller.go_to_fold(-1), "Shift+F8", "previousFoldAction")
    menu.addSeparator()
    action("Load &Colour Table...", lambda: _load_colour_table(window), None, "loadColourTableAction")
    action("Automatic Colour Table", lambda: controller.set_colour_table(None))
    menu.addSeparator()
    action("Export &Warped Labels...", lambda: export_dialog(window, "warped_labels"), None, "exportWarpedLabelsAction")
    action("Export &Jacobian Map...", lambda: export_dialog(window, "jacobian"), None, "exportJacobianAction")
    action(
        "Export &Displacement Field...", lambda: export_dialog(window, "displacement"), None, "exportDisplacementAction"
    )
    return controller
