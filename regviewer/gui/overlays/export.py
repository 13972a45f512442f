"""Export what the overlays show as images: warped labels, the Jacobian map, the displacement field.

Each export writes a file on the FIXED grid (NIfTI by default; any format ``write_image`` knows),
from the transform the views show. Errors give a dialog through ``window.show_error`` and return
False; nothing the user loaded changes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from regviewer.core.errors import RegViewerError
from regviewer.core.io import write_image
from regviewer.core.io.transforms_io import write_displacement_field
from regviewer.core.label_stats import LABEL_METHODS, deformation_summary, jacobian_image, warp_labels
from regviewer.core.transforms import AffineTransform, DisplacementFieldTransform, to_displacement_field

NIFTI_FILTER = "NIfTI images (*.nii.gz *.nii);;All files (*)"


def _busy(function):
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return function()
    finally:
        QApplication.restoreOverrideCursor()


def _done(window, path: Path) -> bool:
    window.statusBar().showMessage(f"Saved {path}", 5000)
    return True


def export_warped_labels(window, path: str | Path, method: str = "nearest") -> bool:
    """The moving labels resampled onto the fixed grid (nearest neighbour or per-label linear)."""
    scene = window.grid.scene
    if scene.moving_labels is None or scene.fixed is None:
        return window.show_error("Cannot export", "load a fixed image and moving labels first")
    try:
        labels = _busy(lambda: warp_labels(scene.moving_labels, scene.fixed.geometry, scene.transform, method))
        return _done(window, write_image(labels, path))
    except RegViewerError as error:
        return window.show_error("Cannot export the warped labels", str(error))


def export_jacobian(window, path: str | Path) -> bool:
    """The Jacobian determinant of the fixed -> moving transform on the fixed grid (float32)."""
    scene = window.grid.scene
    if scene.fixed is None:
        return window.show_error("Cannot export", "load a fixed image first")
    controller = getattr(window, "overlays", None)
    try:
        summary = controller.summary if controller is not None and controller.current else None
        if summary is None or summary.geometry is not scene.fixed.geometry:
            summary = _busy(lambda: deformation_summary(scene.transform, scene.fixed.geometry))
        return _done(window, write_image(jacobian_image(summary), path))
    except RegViewerError as error:
        return window.show_error("Cannot export the Jacobian map", str(error))


def export_displacement(window, path: str | Path) -> bool:
    """The dense fixed -> moving displacement (mm, LPS) on the fixed grid, as a vector image."""
    scene = window.grid.scene
    if scene.fixed is None:
        return window.show_error("Cannot export", "load a fixed image first")
    transform = scene.transform or AffineTransform.identity(scene.fixed.ndim)
    try:
        field: DisplacementFieldTransform = _busy(lambda: to_displacement_field(transform, scene.fixed.geometry))
        return _done(window, write_displacement_field(field, path))
    except RegViewerError as error:
        return window.show_error("Cannot export the displacement field", str(error))


def export_dialog(window, what: str) -> None:
    """Ask for a file name and export ``what``: "warped_labels", "jacobian" or "displacement"."""
    titles = {
        "warped_labels": "Export warped labels",
        "jacobian": "Export Jacobian map",
        "displacement": "Export displacement field",
    }
    default = {
        "warped_labels": "warped_labels.nii.gz",
        "jacobian": "jacobian.nii.gz",
        "displacement": "displacement.nii.gz",
    }[what]
    folder = Path(str(window.settings.value("lastFolder", str(Path.home()))))
    path, _ = QFileDialog.getSaveFileName(window, titles[what], str(folder / default), NIFTI_FILTER)
    if not path:
        return
    if what == "warped_labels":
        method, chosen = QInputDialog.getItem(
            window,
            "Label interpolation",
            "Resample the labels with (both keep label values):",
            list(LABEL_METHODS),
            0,
            False,
        )
        if chosen:
            export_warped_labels(window, path, method)
        return
    {"jacobian": export_jacobian, "displacement": export_displacement}[what](window, path)
