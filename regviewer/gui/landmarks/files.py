"""Import and export of landmarks from the panel (every format of core/io/landmark_formats.py).

Importing a pair file (our pair CSV, BigWarp, transformix output) replaces the pairs; importing a
point list asks whether the points are fixed or moving and fills that side, matching pairs by name
when every name in the file names a pair, else row by row (new rows where the file has more points). Either is ONE undo step, so nothing placed by hand is lost. Bad
files give a dialog with the reason and change nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMessageBox

from regviewer.core.errors import RegViewerError
from regviewer.core.io.landmark_formats import (
    PAIR_FORMATS,
    PointSet,
    fit_dimension,
    load_pairs,
    read_landmark_file,
    write_pairs,
    write_point_set,
)
from regviewer.core.landmarks import LandmarkPair

IMPORT_FILTER = "Landmarks (*.csv *.fcsv *.json *.txt *.pts);;All files (*)"
# Export choices: dialog filter -> (format, side or None for pairs)
EXPORT_FILTERS = {
    "Pairs: RegViewer CSV, LPS mm (*.csv)": ("csv", None),
    "Pairs: BigWarp landmarks (*.csv)": ("bigwarp", None),
    "Fixed points: Slicer markups JSON (*.mrk.json)": ("mrk.json", "fixed"),
    "Moving points: Slicer markups JSON (*.mrk.json)": ("mrk.json", "moving"),
    "Fixed points: Slicer fiducials (*.fcsv)": ("fcsv", "fixed"),
    "Moving points: Slicer fiducials (*.fcsv)": ("fcsv", "moving"),
    "Fixed points: elastix point file (*.txt)": ("elastix", "fixed"),
    "Moving points: elastix point file (*.txt)": ("elastix", "moving"),
    "Fixed points: ANTs CSV (*.csv)": ("ants", "fixed"),
    "Moving points: ANTs CSV (*.csv)": ("ants", "moving"),
}


class LandmarkFiles:
    """File actions of one window's landmarks."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self.window = controller.window

    # ---- import -------------------------------------------------------------------------------
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import landmarks", self.window._last_folder(), IMPORT_FILTER
        )
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path, side: str | None = None) -> bool:
        """Import a pair file, or a point list as the ``side`` points (asked when None). False after an error dialog."""
        controller = self.controller
        model = controller.model
        scene = controller.grid.scene
        try:
            content = read_landmark_file(
                path, scene.fixed.geometry if scene.fixed is not None and side != "moving" else None
            )
            if isinstance(content, PointSet):
                side = side or self._ask_side(Path(path).name)
                if side is None:
                    return False
                if side == "moving" and scene.moving is not None:
                    content = read_landmark_file(path, scene.moving.geometry)
                pairs = self._merged(content, side, path)
            else:
                pairs = load_pairs(path, None, model.ndim)
            model.replace_all(pairs, f"import {Path(path).name}")
        except RegViewerError as error:
            return self.window.show_error("Cannot import landmarks", str(error))
        except (OSError, ValueError) as error:
            return self.window.show_error("Cannot import landmarks", f"{path}: {error}")
        controller.message.emit(f"Imported {len(pairs)} landmark pairs from {Path(path).name}")
        return True

    def _merged(self, points: PointSet, side: str, path) -> list[LandmarkPair]:
        """The pairs with ``side`` filled from a point list: by name when every name in the file names an
        existing pair (e.g. moving points exported from the same set), else row by row."""
        model = self.controller.model
        pairs = list(model.pairs)
        rows = {pair.name: row for row, pair in enumerate(pairs)}
        by_name = (
            bool(pairs) and len(set(points.names)) == len(points.names) and all(name in rows for name in points.names)
        )
        for index, (name, point, active) in enumerate(zip(points.names, points.points, points.active)):
            point = fit_dimension(tuple(float(v) for v in point), model.ndim, path)
            row = rows[name] if by_name else index
            if row < len(pairs):
                pairs[row] = replace(pairs[row], **{side: point})
            else:
                pairs.append(LandmarkPair(name, active, **{side: point}))
        return pairs

    def _ask_side(self, name: str) -> str | None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Import landmarks",
            f"{name} holds one list of points. Are they fixed or moving points?",
            parent=self.window,
        )
        fixed = box.addButton("Fixed points", QMessageBox.ButtonRole.AcceptRole)
        moving = box.addButton("Moving points", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return "fixed" if box.clickedButton() is fixed else "moving" if box.clickedButton() is moving else None

    # ---- export -------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        start = str(Path(self.window._last_folder()) / "landmarks.csv")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export landmarks", start, ";;".join(EXPORT_FILTERS))
        if path:
            kind, side = EXPORT_FILTERS.get(chosen, ("csv", None))
            self.export_file(path, kind, side)

    def export_file(self, path: str | Path, kind: str = "csv", side: str | None = None) -> bool:
        """Write the pairs (``side`` None, csv / bigwarp) or one side's placed points. False after an error dialog."""
        model = self.controller.model
        try:
            if side is None and kind in PAIR_FORMATS:
                written = write_pairs(path, list(model.pairs), model.ndim, kind)
            else:
                side = side or "fixed"
                rows = [p for p in model.pairs if p.point(side) is not None]
                points = PointSet(
                    [p.name for p in rows],
                    np.array([p.point(side) for p in rows]).reshape(len(rows), model.ndim),
                    [p.active for p in rows],
                )
                written = write_point_set(path, points, kind)
        except RegViewerError as error:
            return self.window.show_error("Cannot export landmarks", str(error))
        except OSError as error:
            return self.window.show_error("Cannot export landmarks", f"{path}: {error.strerror or error}")
        self.controller.message.emit(f"Saved landmarks to {written}")
        return True
