"""``regviewer render``: draw the linked view grid into a PNG without showing a window.

It builds the same ``ViewGrid`` as the main window (off-screen), so a figure shows exactly what the
window would show for the same images, transform, layout, mode, plane and slice.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from regviewer.core.errors import ImageWriteError, InputMismatchError
from regviewer.core.image import Image
from regviewer.core.transforms import Transform

# Anatomical (LPS) axis that locates the slice of each plane: x for sagittal, y coronal, z axial.
PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


def parse_size(text: str) -> tuple[int, int]:
    """ "1600x1200" -> (1600, 1200)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputMismatchError(f"--size must look like 1600x1200, got {text!r}") from None
    if not (64 <= width <= 10000 and 64 <= height <= 10000):
        raise InputMismatchError(f"--size {text}: width and height must be between 64 and 10000 pixels")
    return width, height


def render_figure(
    fixed: Image,
    moving: Image,
    output: str | Path,
    transform: Transform | None = None,
    fixed_labels: Image | None = None,
    moving_labels: Image | None = None,
    layout: str = "2x2",
    mode: str | None = None,
    plane: str = "axial",
    slice_mm: float | None = None,
    size: tuple[int, int] = (1600, 1200),
    overlays: tuple[str, ...] = (),
) -> Path:
    """Render the view grid to ``output`` (PNG) and return its path.

    ``mode`` sets the last view of the layout (e.g. "checkerboard", "difference", "blend");
    ``slice_mm`` is the LPS coordinate of the slice along the plane's axis (z for axial, y for
    coronal, x for sagittal); by default the centre of the fixed image. ``overlays``: overlay kinds
    drawn on their default views (``regviewer.gui.overlays.render_overlays``).
    """
    if not os.environ.get("QT_QPA_PLATFORM") and not _has_application():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # never show a window
    from regviewer.gui.app import application
    from regviewer.gui.overlays import render_overlays
    from regviewer.gui.views.view_grid import ViewGrid

    app = application()
    grid = ViewGrid()
    try:
        grid.resize(*size)
        grid.set_content(fixed, moving, fixed_labels, moving_labels, transform)
        if plane not in grid.scene.space.planes:
            raise InputMismatchError(
                f"plane {plane!r} is not available for these images (choose {', '.join(grid.scene.space.planes)})"
            )
        grid.set_layout(layout)
        shown = grid.shown_views()
        if mode is not None:
            shown[-1].set_mode(mode)
        for view in grid.views:
            view.set_plane(plane)
        cursor = grid.scene.centre_mm()
        if slice_mm is not None:
            cursor = cursor.copy()
            cursor[PLANE_AXIS[plane]] = float(slice_mm)
        grid.set_cursor(cursor)
        render_overlays(grid, tuple(overlays))
        grid.show()
        app.processEvents()
        grid.fit_all()
        app.processEvents()
        output = Path(output)
        if not grid.grab().save(str(output), "PNG"):
            raise ImageWriteError(f"could not write {output}")
        return output
    finally:
        grid.close()
        grid.deleteLater()
        app.processEvents()
        del grid
        gc.collect()


def _has_application() -> bool:
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        return False
    return QApplication.instance() is not None
