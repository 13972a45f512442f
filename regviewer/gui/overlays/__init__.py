"""Deformation and label overlays for the slice views, their docks, menu and exports.

``install_overlays(window, state)`` is the one call the main window makes: it creates the shared
``OverlayController`` over the window's ``OverlayState`` (regviewer.app), attaches the overlay items
to every view, adds the "Overlays" and "Label Dice" docks and an "Overlays" menu (fold navigation,
colour tables, exports), and returns them as an ``OverlayFeature`` the window keeps.
``install_on_grid(grid)`` does the view part alone (used by ``regviewer render``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from regviewer.app.overlay_settings import OverlayState
from regviewer.core.colour_table import read_colour_table, sidecar_table
from regviewer.core.errors import RegViewerError
from regviewer.gui.actions import add_action, feature_menu
from regviewer.gui.overlays.controller import OverlayController
from regviewer.gui.overlays.export import export_dialog
from regviewer.gui.overlays.layers import install_on_view


def install_on_grid(grid, parent=None, state: OverlayState | None = None) -> OverlayController:  # noqa: ANN001
    """A controller for a view grid (over ``state``, else its own settings), with overlay items on each view."""
    controller = OverlayController(grid, parent if parent is not None else grid, state)
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
        controller.state.settings = controller.settings.with_options(kind, enabled=True)
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


def _load_colour_table(window, controller: OverlayController) -> None:  # noqa: ANN001
    path, _ = QFileDialog.getOpenFileName(
        window,
        "Open a colour table (FreeSurfer, Slicer or ITK-SNAP)",
        str(window.settings.value("lastFolder", "")),
        "Colour tables (*.txt *.ctbl *.lut *.label);;All files (*)",
    )
    if path:
        load_colour_table(window, path, controller)


def load_colour_table(window, path, controller: OverlayController | None = None) -> bool:  # noqa: ANN001
    """Name and colour labels from a FreeSurfer / Slicer / ITK-SNAP colour table file (shown by
    ``controller``, by default the window's overlays)."""
    try:
        table = read_colour_table(path)
    except RegViewerError as error:
        return window.show_error("Cannot open the colour table", str(error))
    controller = controller if controller is not None else window.overlays
    controller.set_colour_table(table)
    controller.state.set_colour_table_path(str(path))
    return True


def _follow_sidecar_tables(window, controller: OverlayController) -> None:
    """Name labels from a colour table found beside the label file (``atlas.nii.gz`` + ``atlas.txt`` / ``.xml``),
    unless the user loaded a table; checked after each load (the window records the paths after showing them)."""
    automatic: dict[str, object] = {"table": None}

    def check() -> None:
        if controller.user_table is not automatic["table"]:
            return  # the user's own choice stays
        found = None
        for role in ("fixed_labels", "moving_labels"):
            path = window.source_paths.get(role)
            found = sidecar_table(path) if path else None
            if found is not None:
                break
        if found is not automatic["table"] and (found is not None or automatic["table"] is not None):
            automatic["table"] = found
            controller.set_colour_table(found)
            if found is not None:
                window.statusBar().showMessage(f"Label names from {found.source}", 5000)

    window.grid.contentChanged.connect(lambda: QTimer.singleShot(0, check))


def _report_bugs(window, controller: OverlayController) -> None:
    """A bug while computing the whole-volume figures (not bad input: an unexpected exception) gets a
    dialog once; the panels also say "Cannot compute" and the log file has the traceback."""
    last = {"error": ""}

    def check() -> None:
        error = controller.error
        if error and error != last["error"] and error.startswith("Unexpected error"):
            window.show_error("Cannot compute the overlay figures", error)
        last["error"] = error

    controller.summaryChanged.connect(check)


def _go_to_fold(window, controller: OverlayController, step: int) -> bool:
    """F8 / Shift+F8: the next / previous fold, or a status-bar line saying why there is none."""
    if controller.go_to_fold(step):
        return True
    if controller.computing:
        text = "Folds: still computing the Jacobian of the current transform; try again in a moment"
    elif controller.error:
        text = f"Folds: cannot compute ({controller.error})"
    elif controller.summary is None:
        text = "Folds: open a fixed image first"
    else:
        text = "No folds: the Jacobian determinant is positive everywhere"
    window.statusBar().showMessage(text, 5000)
    return False


@dataclass
class OverlayFeature:
    """What ``install_overlays`` made: the controller, the two panels and their docks."""

    controller: OverlayController
    panel: object
    panel_dock: QDockWidget
    label_table: object
    label_dock: QDockWidget


def install_overlays(window, state: OverlayState) -> OverlayFeature:  # noqa: ANN001
    """Overlays, docks and menu of the main window (see the module docstring)."""
    from regviewer.gui.panels.label_table import LabelTablePanel
    from regviewer.gui.panels.overlay_panel import OverlayPanel

    controller = install_on_grid(window.grid, window, state)
    panel = OverlayPanel(controller)
    panel_dock = _dock(window, "Overlays", "overlayDock", panel, scroll=True)
    label_table = LabelTablePanel(controller)
    label_dock = _dock(window, "Label Dice", "labelTableDock", label_table)

    _follow_sidecar_tables(window, controller)
    _report_bugs(window, controller)
    menu = feature_menu(window, "&Overlays")
    menu.addAction(panel_dock.toggleViewAction())
    menu.addAction(label_dock.toggleViewAction())
    menu.addSeparator()

    def action(text: str, slot, shortcut: str | None = None, name: str = "") -> QAction:  # noqa: ANN001
        return add_action(menu, text, slot, shortcut, name)

    def automatic_table() -> None:
        controller.set_colour_table(None)
        controller.state.set_colour_table_path(None)

    action("&Next Fold", lambda: _go_to_fold(window, controller, 1), "F8", "nextFoldAction")
    action("&Previous Fold", lambda: _go_to_fold(window, controller, -1), "Shift+F8", "previousFoldAction")
    menu.addSeparator()
    action("Load &Colour Table...", lambda: _load_colour_table(window, controller), None, "loadColourTableAction")
    action("Automatic Colour Table", automatic_table)
    menu.addSeparator()
    action("Export &Warped Labels...", lambda: export_dialog(window, "warped_labels"), None, "exportWarpedLabelsAction")
    action("Export &Jacobian Map...", lambda: export_dialog(window, "jacobian"), None, "exportJacobianAction")
    action(
        "Export &Displacement Field...", lambda: export_dialog(window, "displacement"), None, "exportDisplacementAction"
    )
    return OverlayFeature(controller, panel, panel_dock, label_table, label_dock)
