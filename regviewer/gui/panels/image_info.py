"""The image-information panel: the grid of the fixed and the moving image side by side.

Shows what decides whether two images line up in physical space (size, spacing, origin, direction,
orientation code) and what the display needs (data type, intensity range, label count). Cells are
read-only but selectable; Ctrl+C copies the selection, and the context menu copies the whole table
as tab-separated text (for a bug report or a spreadsheet).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from regviewer.core.image import Image

ROWS = (
    "Name",
    "Size (voxels)",
    "Spacing (mm)",
    "Origin (mm)",
    "Direction",
    "Orientation",
    "Data type",
    "Intensity range",
    "Labels",
)
COLUMNS = ("Fixed", "Moving")
MISSING = "-"
_POSITIVE, _NEGATIVE = "LPS", "RAI"  # LPS frame: +x = Left, +y = Posterior, +z = Superior


def _numbers(values: np.ndarray, digits: int = 4) -> str:
    return "(" + ", ".join(f"{float(v):.{digits}g}" for v in values) + ")"


def orientation_code(direction: np.ndarray) -> str:
    """Letters of the patient directions the index axes point to (ITK / DICOM style, LPS frame).

    Identity is ``"LPS"``; ``"RAS"`` is x to the right, y to the front, z up. Each index axis takes the
    letter of its largest direction component; ``" (oblique)"`` follows when an axis is tilted by more
    than 0.5 degree from it.
    """
    direction = np.asarray(direction, dtype=float)
    letters = []
    for column in direction.T:
        axis = int(np.argmax(np.abs(column)))
        letters.append(_POSITIVE[axis] if column[axis] > 0 else _NEGATIVE[axis])
    oblique = np.min(np.max(np.abs(direction), axis=0)) < np.cos(np.radians(0.5))
    return "".join(letters) + (" (oblique)" if oblique else "")


def direction_text(direction: np.ndarray) -> str:
    """``identity``, else the matrix rounded to 4 decimals, one row per line."""
    direction = np.asarray(direction, dtype=float)
    if np.allclose(direction, np.eye(len(direction)), atol=1e-6):
        return "identity"
    rows = np.round(direction, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    return "\n".join("[" + "  ".join(f"{v: .4f}" for v in row) + "]" for row in rows)


def label_count(array: np.ndarray) -> int:
    """Number of distinct non-zero values (labels) in an integer array."""
    if array.size == 0:
        return 0
    if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() < 1 << 20:
        return int(np.count_nonzero(np.bincount(array.reshape(-1))[1:]))
    return int(np.count_nonzero(np.unique(array)))


def describe(image: Image | None, labels: Image | None = None) -> dict[str, str]:
    """The text of every row of ``ROWS`` for one image (and its label map, when one is loaded)."""
    if image is None:
        return {row: MISSING for row in ROWS}
    low, high = image.value_range()
    label_source = labels if labels is not None else (image if image.is_label else None)
    if label_source is None:
        labels_text = MISSING
    else:
        labels_text = f"{label_count(label_source.array)}" + (
            f" ({label_source.name})" if label_source is not image else ""
        )
    return {
        "Name": image.name or "(unnamed)",
        "Size (voxels)": " x ".join(str(n) for n in image.geometry.size) + f"  ({image.ndim}D)",
        "Spacing (mm)": _numbers(image.spacing),
        "Origin (mm)": _numbers(image.origin, 6),
        "Direction": direction_text(image.direction),
        "Orientation": orientation_code(image.direction),
        "Data type": str(image.array.dtype) + (" (labels)" if image.is_label else ""),
        "Intensity range": f"{low:g} .. {high:g}",
        "Labels": labels_text,
    }


class ImageInfoPanel(QWidget):
    """A read-only table: one row per property, one column each for the fixed and the moving image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(len(ROWS), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setVerticalHeaderLabels(list(ROWS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for text, shortcut, slot in (
            ("Copy", QKeySequence.StandardKey.Copy, self.copy_selection),
            ("Copy all", None, self.copy_all),
        ):
            action = QAction(text, self.table)
            if shortcut is not None:
                action.setShortcut(shortcut)
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            self.table.addAction(action)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.set_images(None, None)

    def set_images(
        self,
        fixed: Image | None,
        moving: Image | None,
        fixed_labels: Image | None = None,
        moving_labels: Image | None = None,
    ) -> None:
        """Show ``fixed`` and ``moving`` (either may be None); label maps add their label counts."""
        for column, values in enumerate((describe(fixed, fixed_labels), describe(moving, moving_labels))):
            for row, name in enumerate(ROWS):
                item = QTableWidgetItem(values[name])
                item.setToolTip(values[name])
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                if name == "Direction" and "\n" in values[name]:  # matrix columns line up in a fixed-width font
                    item.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()

    def cell_text(self, row_name: str, column: str) -> str:
        """The text shown for property ``row_name`` of the "Fixed" or "Moving" column."""
        item = self.table.item(ROWS.index(row_name), COLUMNS.index(column))
        return item.text() if item is not None else ""

    def as_text(self, rows: list[int] | None = None, columns: list[int] | None = None) -> str:
        """Tab-separated text with a header line; multi-line cells are joined with "; "."""
        rows = list(range(len(ROWS))) if rows is None else rows
        columns = list(range(len(COLUMNS))) if columns is None else columns
        lines = ["\t".join(["Property"] + [COLUMNS[c] for c in columns])]
        for row in rows:
            cells = [self.table.item(row, c).text().replace("\n", "; ") for c in columns]  # type: ignore[union-attr]
            lines.append("\t".join([ROWS[row]] + cells))
        return "\n".join(lines)

    def copy_selection(self) -> None:
        """Copy the selected cells (with their property names and column titles) to the clipboard."""
        selected = self.table.selectedIndexes()
        if not selected:
            return
        rows = sorted({index.row() for index in selected})
        columns = sorted({index.column() for index in selected})
        QGuiApplication.clipboard().setText(self.as_text(rows, columns))

    def copy_all(self) -> None:
        """Copy the whole table to the clipboard."""
        QGuiApplication.clipboard().setText(self.as_text())
