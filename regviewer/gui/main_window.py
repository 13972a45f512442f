"""The main window: linked views of a fixed and a moving image, menus, status bar and panels.

``MainWindow(fixed=..., moving=...)`` accepts paths or ``Image`` objects, so tests and scripts can
build a window without the CLI. Nothing a user loaded is lost on bad input: a file that cannot be
read, or images that do not fit together, give a dialog and the window keeps what it showed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox

from regviewer import __version__, paths
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.transforms import Transform
from regviewer.gui.actions import add_action
from regviewer.gui.jobs import BackgroundJob
from regviewer.gui.landmarks import install_landmarks
from regviewer.gui.overlays import install_overlays
from regviewer.gui.panels.image_info import ImageInfoPanel
from regviewer.gui.run.parameter_dock import install_run_dock
from regviewer.gui.status_text import cursor_report
from regviewer.gui.view_controls import ViewControls
from regviewer.gui.views.view_grid import ViewGrid

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
    ) -> None:
        super().__init__()
        self.setWindowTitle("RegViewer")
        self.resize(1400, 950)
        self.settings = settings if settings is not None else QSettings("RegViewer", "RegViewer")
        self.errors: list[str] = []  # every message shown in an error dialog (for scripts and tests)
        self.source_paths: dict[str, str | None] = {}  # file of each loaded role (None: given as an Image)
        self._reader = BackgroundJob(self, latest_only=False, name="regviewer-reader")  # see load_in_background
        self._reader.finished.connect(self._reading_done)
        self.grid = ViewGrid(self)
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
        self.setAcceptDrops(True)
        self._build_menus()
        install_landmarks(self)
        install_overlays(self)  # deformation / label overlays, their docks and the Overlays menu
        self.load(
            fixed=fixed, moving=moving, fixed_labels=fixed_labels, moving_labels=moving_labels, transform=transform
        )
        install_run_dock(self)
        self._arrange_docks()

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
        menu = self.menuBar().addMenu("&File")
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
        self._action(menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

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
                read[role] = self._read(role, Path(value))
        return read

    def _apply_items(self, replace_all: bool, items: dict, read: dict) -> bool:
        """Show what ``_read_items`` read for ``items`` (see ``load``)."""
        scene = self.grid.scene
        content = dict(
            fixed=scene.fixed,
            moving=scene.moving,
            fixed_labels=scene.fixed_labels,
            moving_labels=scene.moving_labels,
            transform=scene.transform,
        )
        if replace_all:
            content = dict.fromkeys(content)
        content.update({role: value for role, value in read.items() if value is not None})
        try:
            new_reference = content["fixed"] if content["fixed"] is not None else content["moving"]
            for role in ("fixed_labels", "moving_labels", "transform"):
                kept = content[role]
                if (
                    items.get(role) is None
                    and kept is not None
                    and new_reference is not None
                    and kept.ndim != new_reference.ndim
                ):
                    content[role] = None  # belongs to images of another dimension
            reference_changed = new_reference is not (scene.fixed if scene.fixed is not None else scene.moving)
            self.grid.set_content(**content, reset_view=reference_changed)
        except RegViewerError as error:
            return self.show_error("Cannot open", str(error))
        except (OSError, ValueError, RuntimeError, MemoryError) as error:
            return self.show_error("Cannot open", f"{type(error).__name__}: {error}")
        if replace_all:
            self.source_paths = {}
        self.source_paths.update(
            {
                role: None if isinstance(value, Image) else str(value)
                for role, value in items.items()
                if value is not None and role != "transform"
            }
        )
        for role, value in items.items():
            if value is not None and role != "transform" and not isinstance(value, Image):
                self._remember(role, str(value))
        self._content_changed()
        return True

    def _read(self, role: str, path: Path) -> Image:
        try:
            return read_image(path, is_label=role.endswith("labels"))
        except RegViewerError as error:
            raise RegViewerError(f"{ROLES[role]} {path.name}: {error}") from error

    def set_transform(self, transform: Transform | None) -> bool:
        """Show a fixed -> moving transform (None: identity); False after an error dialog."""
        try:
            self.grid.set_transform(transform)
        except RegViewerError as error:
            return self.show_error("Cannot use the transform", str(error))
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
        names = " / ".join(image.name for image in (scene.fixed, scene.moving) if image is not None and image.name)
        self.setWindowTitle(f"RegViewer - {names}" if names else "RegViewer")
        self._update_status(self.grid.link.cursor_mm)

    def show_error(self, title: str, message: str) -> bool:
        """An error dialog; returns False so callers can ``return self.show_error(...)``."""
        self.errors.append(message)
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
            self.load_in_background(**{role: path})

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
        """Save the view grid as a PNG image."""
        if not self.grid.grab().save(str(path)):
            return self.show_error("Cannot save the screenshot", f"could not write {path}")
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def copy_to_clipboard(self) -> None:
        QApplication.clipboard().setPixmap(self.grid.grab())
        self.statusBar().showMessage("Views copied to the clipboard", 3000)

    def set_layout(self, name: str) -> None:
        self.grid.set_layout(name)
        self.controls.sync()

    def _show_system_info(self) -> None:
        from regviewer.cli.info import collect_info, format_info

        box = QMessageBox(
            QMessageBox.Icon.Information,
            "System information",
            "Versions and platform (copy into bug reports):",
            parent=self,
        )
        box.setDetailedText(format_info(collect_info()))
        box.exec()

    def _about(self) -> None:
        QMessageBox.about(
            self, "About RegViewer", f"RegViewer {__version__}\nA workbench for medical image registration."
        )

    # ---- recent files -------------------------------------------------------------------------
    def recent_files(self) -> list[tuple[str, str]]:
        entries = self.settings.value("recentFiles", []) or []
        if isinstance(entries, str):
            entries = [entries]
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
            self._action(
                self.recent_menu, f"{ROLES[role]}: {path}", lambda r=role, p=path: self.load_in_background(**{r: p})
            )
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _last_folder(self) -> str:
        return str(self.settings.value("lastFolder", str(Path.home())))

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
        self.status_label.setText(cursor_report(self.grid.scene, point_mm))
