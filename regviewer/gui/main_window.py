"""The main window: linked views of a fixed and a moving image, menus, status bar and panels.

``MainWindow(fixed=..., moving=...)`` accepts paths or ``Image`` objects, so tests and scripts can
build a window without the CLI. Nothing a user loaded is lost on bad input: a file that cannot be
read, or images that do not fit together, give a dialog and the window keeps what it showed.

The window holds the application model (``regviewer.app``, Qt-free): ``workspace`` (images, label
maps, the current transform), ``viewer`` (cursor, zoom, window / level per image, layout),
``landmark_model``, ``overlay_state``, ``history`` and the ``run_session`` that builds and records
runs. It creates each feature with the model objects it shows and keeps what it returns
(``landmarks``, ``overlays``, ``run_dock`` ...): nothing attaches itself to the window from outside.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox

from regviewer import __version__, paths
from regviewer.app import Landmarks, OverlayState, RunHistory, RunSession, ViewerState, Workspace
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.io.label_channels import LabelFile, read_label_map
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.transforms import Transform
from regviewer.gui import settings_values
from regviewer.gui.actions import add_action
from regviewer.gui.error_report import open_log_folder
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.label_channel_dialog import choose_label_channel
from regviewer.gui.landmarks import install_landmarks
from regviewer.gui.overlays import install_overlays
from regviewer.gui.panels.image_info import ImageInfoPanel
from regviewer.gui.plugins_dialog import show_plugins_dialog
from regviewer.gui.run.parameter_dock import install_run_dock
from regviewer.gui.session_actions import SessionActions
from regviewer.gui.session_host import WindowSessionHost, image_names
from regviewer.gui.status_text import cursor_report
from regviewer.gui.view_controls import ViewControls
from regviewer.gui.views.view_grid import ViewGrid
from regviewer.logs import log_error

ROLES = {
    "fixed": "Fixed image",
    "moving": "Moving image",
    "fixed_labels": "Fixed labels",
    "moving_labels": "Moving labels",
}
IMAGE_FILTER = (
    "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm *.png *.jpg *.jpeg *.tif *.tiff *.npz *.h5 *.hdf5);;"
    "All files (*)"
)
TRANSFORM_FILTER = "Transforms (*.tfm *.txt *.h5 *.hdf5 *.mat *.nii *.nii.gz *.nrrd *.mha);;All files (*)"
MAX_RECENT = 10


def basic_system_info() -> str:
    """Versions and platform, for bug reports (``regviewer --info`` gives the full report)."""
    from PySide6 import __version__ as pyside_version

    return (
        f"RegViewer {__version__}\nPython {sys.version.split()[0]} ({sys.executable})\n"
        f"Platform {platform.platform()}\nPySide6 {pyside_version}\n(run 'regviewer --info' for the full report)"
    )


class MainWindow(QMainWindow):
    """RegViewer's main window (see the module docstring)."""

    def __init__(
        self,
        fixed: Image | str | Path | None = None,
        moving: Image | str | Path | None = None,
        fixed_labels: Image | str | Path | None = None,
        moving_labels: Image | str | Path | None = None,
        transform: Transform | str | Path | None = None,
        settings: QSettings | None = None,
        system_info: Callable[[], str] | None = None,
    ) -> None:
        """``system_info``: the text of Help > System Information (the launcher gives the CLI's full
        report; the gui package does not import the cli); None: versions and platform only."""
        super().__init__()
        self.system_info = system_info or basic_system_info
        self.setWindowTitle("RegViewer")
        self.resize(1400, 950)
        self.settings = settings if settings is not None else QSettings("RegViewer", "RegViewer")
        self.errors: list[str] = []  # every message shown in an error dialog (for scripts and tests)
        self.workspace = Workspace()
        self.viewer = ViewerState()
        self.landmark_model = Landmarks()
        self.overlay_state = OverlayState()
        self.history = RunHistory()
        self.run_session = RunSession(self.workspace, self.history)
        self._reader = BackgroundJob(self, latest_only=False, name="regviewer-reader")  # see load_in_background
        self._reader.finished.connect(self._reading_done)
        self.grid = ViewGrid(self, self.viewer)
        self.setCentralWidget(self.grid)
        self.controls = ViewControls(self.grid, self)
        self.addToolBar(self.controls)
        self.info_panel = ImageInfoPanel()
        self.info_dock = QDockWidget("Info", self)  # image information
        self.info_dock.setObjectName("imageInfoDock")
        self.info_dock.setWidget(self.info_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.info_dock)
        self.resizeDocks([self.info_dock], [380], Qt.Orientation.Horizontal)
        self.status_label = QLabel()
        self.status_label.setObjectName("cursorStatus")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.status_label, 1)
        self.grid.link.cursorChanged.connect(self._update_status)
        self.grid.transformChanged.connect(self._transform_shown)
        self.setAcceptDrops(True)
        self._build_menus()
        self.session_host = WindowSessionHost(self)
        self.sessions = SessionActions(self, self.session_host, self.file_menu, self.settings)
        self.landmarks = install_landmarks(self, self.landmark_model)
        overlays = install_overlays(self, self.overlay_state)  # deformation / label overlays, docks, Overlays menu
        self.overlays, self.overlay_panel, self.overlay_dock = overlays.controller, overlays.panel, overlays.panel_dock
        self.label_table, self.label_dock = overlays.label_table, overlays.label_dock
        self.load(
            fixed=fixed, moving=moving, fixed_labels=fixed_labels, moving_labels=moving_labels, transform=transform
        )
        self.run_dock = install_run_dock(self, self.run_session, self.landmarks)
        self._arrange_docks()
        self.session_host.connect(self.sessions)
        self.sessions.attach_history_menu(self.run_dock.history_list, self._run_id_at)

    @property
    def source_paths(self) -> dict[str, str | None]:
        """File of each loaded role (None: given as an Image); kept by the workspace."""
        return self.workspace.sources

    def _transform_shown(self, preview: bool) -> None:
        """A final transform shown in the views (a run's result, a landmark fit, a file) is the current one."""
        if not preview:
            self.workspace.set_transform(self.grid.scene.transform)

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001
        """Closing asks about unsaved work (when the user closes: the title bar, File > Quit), then cancels
        a running registration and waits for its threads (never destroyed running). A window closed by a
        script does not ask: its unsaved work stays in the recovery folder."""
        if event.spontaneous() or self.sessions.quitting:
            if not self.sessions.confirm_close():
                event.ignore()
                return
        else:
            self.sessions.shutdown(keep_recovery=True)
        self.run_dock.shutdown()
        super().closeEvent(event)

    def _arrange_docks(self) -> None:
        """All panels in one tab group on the right, registration in front (each gets the full height);
        landmark mode brings the landmark table forward. The features only add their docks."""
        names = ("registrationDock", "landmarksDock", "overlayDock", "labelTableDock", "imageInfoDock")
        docks = [dock for dock in (self.findChild(QDockWidget, name) for name in names) if dock is not None]
        for dock in docks:
            self.removeDockWidget(dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks[0])
        for dock in docks:
            dock.show()
            if dock is not docks[0]:
                self.tabifyDockWidget(docks[0], dock)
        docks[0].raise_()
        self.resizeDocks([docks[0]], [440], Qt.Orientation.Horizontal)
        landmarks = self.findChild(QDockWidget, "landmarksDock")
        if landmarks is not None:
            self.landmarks.modeChanged.connect(lambda on: landmarks.raise_() if on else None)

    # ---- menus --------------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, name: str = "") -> QAction:
        return add_action(menu, text, slot, shortcut, name)

    def _build_menus(self) -> None:
        menu = self.file_menu = self.menuBar().addMenu("&File")
        self._action(
            menu, "Open &Fixed...", lambda: self._open_dialog("fixed"), QKeySequence.StandardKey.Open, "openFixedAction"
        )
        self._action(menu, "Open &Moving...", lambda: self._open_dialog("moving"), "Ctrl+Shift+O", "openMovingAction")
        self._action(menu, "Open Fixed &Labels...", lambda: self._open_dialog("fixed_labels"))
        self._action(menu, "Open Moving L&abels...", lambda: self._open_dialog("moving_labels"))
        self._action(menu, "Open &DICOM Folder as Fixed...", lambda: self._open_folder_dialog("fixed"))
        self._action(menu, "Open DICOM Folder as Moving...", lambda: self._open_folder_dialog("moving"))
        self._action(menu, "Open &Transform...", self._open_transform_dialog, None, "openTransformAction")
        self._action(menu, "Reset Transform to Identity", lambda: self.set_transform(None))
        samples = menu.addMenu("Open &Sample Data")
        self._action(samples, "2D brain slices (r16 / r64)", lambda: self.open_sample("2d"))
        self._action(samples, "3D brain with labels", lambda: self.open_sample("3d"))
        self.recent_menu = menu.addMenu("&Recent Files")
        self._rebuild_recent_menu()
        menu.addSeparator()
        self._action(menu, "Save &Screenshot...", self._screenshot_dialog, "Ctrl+Shift+S", "saveScreenshotAction")
        menu.addSeparator()
        self._action(menu, "&Quit", lambda: self.sessions.request_quit(), QKeySequence.StandardKey.Quit)

        menu = self.menuBar().addMenu("&Edit")
        self._action(menu, "&Copy Views", self.copy_to_clipboard, QKeySequence.StandardKey.Copy, "copyAction")

        menu = self.menuBar().addMenu("&View")
        for name, title in (("2x2", "2 x 2"), ("1x3", "1 x 3"), ("1x1", "Single View")):
            self._action(menu, f"Layout {title}", lambda n=name: self.set_layout(n))
        menu.addSeparator()
        for plane in ("axial", "coronal", "sagittal"):
            self._action(menu, f"{plane.capitalize()} in All Views", lambda p=plane: self.grid.set_plane(p))
        self._action(menu, "&Fit to Window", self.grid.fit_all, "Ctrl+0")
        self._action(menu, "Centre Cursor", lambda: self.grid.set_cursor(self.grid.scene.centre_mm()))
        menu.addSeparator()
        menu.addAction(self.info_dock.toggleViewAction())
        menu.addAction(self.controls.toggleViewAction())

        menu = self.menuBar().addMenu("&Help")
        self._action(menu, "System &Information...", self._show_system_info)
        self._action(menu, "Open &Log Folder", open_log_folder, None, "openLogFolderAction")
        self._action(menu, "&Plugins...", lambda: show_plugins_dialog(self))
        self._action(menu, "&About RegViewer", self._about)

    # ---- loading ------------------------------------------------------------------------------
    def load(self, replace_all: bool = False, **items) -> bool:
        """Load any of fixed / moving / fixed_labels / moving_labels (paths or Images) and transform.

        Items not given are kept (``replace_all``: dropped). Labels and a transform of another dimension
        than the new images are dropped, never misapplied. Returns False (after an error dialog) when
        something could not be read or does not fit; the window then keeps everything it showed before.
        Reads on the calling thread (scripts, tests); the menus and drops use ``load_in_background``.
        """
        try:
            read = self._read_items(items)
        except RegViewerError as error:
            return self.show_error("Cannot open", str(error))
        except (OSError, ValueError, RuntimeError, MemoryError) as error:
            return self.show_error("Cannot open", f"{type(error).__name__}: {error}")
        return self._apply_items(replace_all, items, read)

    def load_in_background(self, replace_all: bool = False, **items) -> None:
        """``load`` with the files read off the GUI thread: a DICOM series or a large volume can take
        seconds, and the window stays usable meanwhile (the status bar says what is being read). Requests
        run in order; each is applied, or explained in an error dialog, when its reading ends."""
        files = [
            Path(str(value)).name
            for value in items.values()
            if value is not None and not isinstance(value, (Image, Transform))
        ]
        if not files:
            self.load(replace_all, **items)
            return
        if not self._reader.busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self.statusBar().showMessage(f"Reading {', '.join(files)} ...")
        self._reader.request(lambda: (replace_all, items, self._read_items(items)))

    def _reading_done(self, result, error) -> None:
        if not self._reader.busy:
            QApplication.restoreOverrideCursor()
            self.statusBar().clearMessage()
        if error is not None:
            self.show_error("Cannot open", error)
            return
        replace_all, items, read = result
        self._apply_items(replace_all, items, read)

    def _read_items(self, items: dict) -> dict:
        """Images and transforms of ``items`` with every path read (no window state is touched: this
        may run off the GUI thread)."""
        read = {}
        for role, value in items.items():
            if value is None or isinstance(value, (Image, Transform)):
                read[role] = value
            elif role == "transform":
                read[role] = read_transform(Path(value))
            else:
                read[role] = self._read(role, value if isinstance(value, LabelFile) else Path(value))
        return read

    def _apply_items(self, replace_all: bool, items: dict, read: dict) -> bool:
        """Show what ``_read_items`` read for ``items`` (see ``load``). The workspace decides what stays:
        a new moving image drops the moving labels (they belong to the image they were drawn on), and
        labels or a transform of another dimension are dropped, never misapplied."""
        scene = self.grid.scene
        sources = {
            role: None
            if isinstance(value, (Image, Transform))
            else value
            if isinstance(value, LabelFile)
            else str(value)
            for role, value in items.items()
            if value is not None
        }
        try:
            content = self.workspace.planned(replace_all, **read)
            new_reference = content["fixed"] if content["fixed"] is not None else content["moving"]
            reference_changed = new_reference is not (scene.fixed if scene.fixed is not None else scene.moving)
            shown = {role: content[role] for role in ("fixed", "moving", "fixed_labels", "moving_labels", "transform")}
            self.grid.set_content(**shown, reset_view=reference_changed)
        except RegViewerError as error:  # e.g. a 3D moving image beside a 2D fixed one: name the file(s) just opened
            named = [
                Path(str(v)).name for v in items.values() if v is not None and not isinstance(v, (Image, Transform))
            ]
            message = (
                str(error) if not named or any(name in str(error) for name in named) else f"{', '.join(named)}: {error}"
            )
            return self.show_error("Cannot open", message)
        except (OSError, ValueError, RuntimeError, MemoryError) as error:
            return self.show_error("Cannot open", f"{type(error).__name__}: {error}")
        self.workspace.set_content(replace_all, sources=sources, **read)
        for role, value in items.items():
            if value is not None and role != "transform" and not isinstance(value, Image):
                self._remember(role, str(value))
        self._content_changed()
        return True

    def _read(self, role: str, path: Path | LabelFile) -> Image:
        try:
            return read_label_map(path) if role.endswith("labels") else read_image(path)
        except RegViewerError as error:
            raise RegViewerError(f"{ROLES[role]} {Path(str(path)).name}: {error}") from error

    def set_transform(self, transform: Transform | None) -> bool:
        """Show a fixed -> moving transform (None: identity); False after an error dialog."""
        try:
            self.grid.set_transform(transform)
        except RegViewerError as error:
            return self.show_error("Cannot use the transform", str(error))
        self.workspace.set_transform(transform)
        self._update_status(self.grid.link.cursor_mm)  # the images did not change: no image information rebuilt
        return True

    def open_sample(self, which: str = "3d") -> bool:
        """Open a bundled sample pair: "2d" (brain slices) or "3d" (brain with labels)."""
        if which == "2d":
            return self.load(replace_all=True, fixed=paths.SAMPLE_2D_FIXED, moving=paths.SAMPLE_2D_MOVING)
        return self.load(
            replace_all=True,
            fixed=paths.SAMPLE_3D_FIXED,
            moving=paths.SAMPLE_3D_MOVING,
            fixed_labels=paths.SAMPLE_3D_FIXED_LABELS,
            moving_labels=paths.SAMPLE_3D_MOVING_LABELS,
        )

    def _content_changed(self) -> None:
        scene = self.grid.scene
        self.info_panel.set_images(scene.fixed, scene.moving, scene.fixed_labels, scene.moving_labels)
        self.controls.sync()
        self.sessions.set_image_names(image_names(self))
        self._update_status(self.grid.link.cursor_mm)

    # ---- sessions (gui/session_actions.py) -------------------------------------------------------
    def save_session(self, path: str | Path | None = None) -> bool:
        """Save the session (images referenced, runs, landmarks, view) to a ``.regviewer`` folder or ``.zip``."""
        return self.sessions.save_session(path)

    def open_session(self, path: str | Path) -> bool:
        """Open a session; missing or changed images are reported and the rest opens."""
        return self.sessions.open_session(path)

    def _run_id_at(self, position) -> int | None:  # noqa: ANN001
        item = self.run_dock.history_list.itemAt(position)
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def show_error(self, title: str, message: str) -> bool:
        """An error dialog; returns False so callers can ``return self.show_error(...)``."""
        self.errors.append(message)
        log_error(f"{title}: {message}")  # with the traceback of the exception being handled, if any
        self.statusBar().showMessage(message, 10000)
        QMessageBox.warning(self, title, message)
        return False

    def landmark_pairs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(fixed, moving) LPS mm arrays of the complete active landmark pairs, or (None, None)."""
        return self.landmarks.pairs_for_registration()

    # ---- dialogs ------------------------------------------------------------------------------
    def _open_dialog(self, role: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open {ROLES[role].lower()}", self._last_folder(), IMAGE_FILTER)
        if path:
            self._open_path(role, path)

    def _open_path(self, role: str, path: str) -> None:
        """Open a file the user chose; a label file with several channels (4D one-hot) asks how to read it."""
        value = choose_label_channel(self, path) if role.endswith("labels") else path
        if value is not None:
            self.load_in_background(**{role: value})

    def _open_folder_dialog(self, role: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Open a DICOM folder as the {role} image", self._last_folder())
        if folder:
            self.load_in_background(**{role: folder})

    def _open_transform_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a fixed -> moving transform", self._last_folder(), TRANSFORM_FILTER
        )
        if path:
            self.load_in_background(transform=path)

    def _screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save screenshot", str(Path(self._last_folder()) / "regviewer.png"), "PNG images (*.png)"
        )
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str | Path) -> bool:
        """Save the view grid as a PNG image (atomically, and never over an image that is open)."""
        from regviewer.core.errors import ImageWriteError
        from regviewer.core.io.atomic import atomic_path
        from regviewer.core.io.output_guard import check_outputs_are_not_inputs

        try:
            check_outputs_are_not_inputs([path], [p for p in self.source_paths.values() if p])
            with atomic_path(path) as temporary:
                if not self.grid.grab_figure().save(str(temporary), "PNG"):
                    raise ImageWriteError(f"{path}: could not write the screenshot")
        except RegViewerError as error:
            return self.show_error("Cannot save the screenshot", str(error))
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def copy_to_clipboard(self) -> None:
        QApplication.clipboard().setPixmap(self.grid.grab_figure())
        self.statusBar().showMessage("Views copied to the clipboard", 3000)

    def set_layout(self, name: str) -> None:  # noqa: D102
        self.grid.set_layout(name)
        self.controls.sync()

    def _show_system_info(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "System information",
            "Versions and platform (copy into bug reports):",
            parent=self,
        )
        box.setDetailedText(self.system_info())
        box.exec()

    def _about(self) -> None:
        QMessageBox.about(
            self, "About RegViewer", f"RegViewer {__version__}\nA workbench for medical image registration."
        )

    # ---- recent files -------------------------------------------------------------------------
    def recent_files(self) -> list[tuple[str, str]]:
        entries = settings_values.string_list(self.settings, "recentFiles")  # a corrupt value is ignored
        pairs = [entry.split("|", 1) for entry in entries if "|" in entry]
        return [(role, path) for role, path in pairs if role in ROLES]

    def _remember(self, role: str, path: str) -> None:
        entries = [f"{r}|{p}" for r, p in self.recent_files() if not (r == role and p == path)]
        self.settings.setValue("recentFiles", [f"{role}|{path}"] + entries[: MAX_RECENT - 1])
        self.settings.setValue("lastFolder", str(Path(path).parent))
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for role, path in self.recent_files():
            self._action(self.recent_menu, f"{ROLES[role]}: {path}", lambda r=role, p=path: self._open_path(r, p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _last_folder(self) -> str:
        return settings_values.text(self.settings, "lastFolder", str(Path.home()))

    # ---- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        target = self.childAt(event.position().toPoint())
        self.drop_files(files, onto_moving=self._is_moving_view(target), background=True)
        event.acceptProposedAction()

    def _is_moving_view(self, widget) -> bool:
        while widget is not None:
            if widget in self.grid.views:
                return widget.mode in ("moving", "warped")
            widget = widget.parentWidget()
        return False

    def drop_files(self, files: list[str], onto_moving: bool = False, background: bool = False) -> bool:
        """Open dropped files: two files are a fixed / moving pair; one goes to the view it was dropped on
        (the fixed image unless dropped on a moving or warped view, or when no moving image is open yet).
        ``background``: read them off the GUI thread (``load_in_background``; True is returned at once)."""
        if not files:
            return False
        scene = self.grid.scene
        if len(files) >= 2:
            replace_all, items = True, dict(fixed=files[0], moving=files[1])
        else:
            role = "moving" if onto_moving or (scene.fixed is not None and scene.moving is None) else "fixed"
            replace_all, items = False, {role: files[0]}
        if background:
            self.load_in_background(replace_all, **items)
            return True
        return self.load(replace_all, **items)

    # ---- status -------------------------------------------------------------------------------
    def _update_status(self, point_mm: np.ndarray) -> None:
        names = self.overlays.colour_table().names.get  # label names where the colour table has them
        self.status_label.setText(cursor_report(self.grid.scene, point_mm, names))
