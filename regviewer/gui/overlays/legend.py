"""Legends drawn in a corner of a slice view: a colour bar with ticks, or colour swatches with names.

They are children of the view box itself (not of its zoomed / panned content), anchored to a
corner like pyqtgraph's LegendItem, so they stay put and readable at any zoom.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPen

_BACKGROUND = QColor(0, 0, 0, 170)
_TEXT = QColor(235, 235, 235)


class CornerLegend(pg.GraphicsWidgetAnchor, pg.GraphicsWidget):
    """A painted legend box anchored to a corner of its parent view box.

    ``set_colour_bar(title, lut, ticks, extra)``: a vertical gradient from a (n, 3|4) uint8 lookup
    table (top = last entry) with (position 0..1, text) ticks, and optional swatches below it.
    ``set_swatches(title, entries)``: a list of (RGB, text).
    """

    def __init__(self, view_box: pg.ViewBox, corner: str = "top-right") -> None:
        """``corner``: "top-right", "top-left", "bottom-right" or "bottom-left" of the view box."""
        pg.GraphicsWidget.__init__(self)
        pg.GraphicsWidgetAnchor.__init__(self)
        self.setParentItem(view_box)
        self.setZValue(50)
        self.setFlag(self.GraphicsItemFlag.ItemIgnoresTransformations, False)
        self._title = ""
        self._lut: np.ndarray | None = None
        self._ticks: list[tuple[float, str]] = []
        self._swatches: list[tuple[tuple[int, int, int], str]] = []
        self._font = QFont()
        self._font.setPointSizeF(8.0)
        item_anchor = {"top-right": (1, 0), "top-left": (0, 0), "bottom-right": (1, 1), "bottom-left": (0, 1)}[corner]
        offset = (8 - 16 * item_anchor[0], 8 - 16 * item_anchor[1])
        self.anchor(itemPos=item_anchor, parentPos=item_anchor, offset=offset)
        self.hide()

    def set_colour_bar(
        self,
        title: str,
        lut: np.ndarray,
        ticks: list[tuple[float, str]],
        extra: list[tuple[tuple[int, int, int], str]] | None = None,
    ) -> None:
        self._title, self._lut, self._ticks, self._swatches = title, np.asarray(lut), ticks, list(extra or [])
        self._resize()

    def set_swatches(self, title: str, entries: list[tuple[tuple[int, int, int], str]]) -> None:
        self._title, self._lut, self._ticks, self._swatches = title, None, [], list(entries)
        self._resize()

    def texts(self) -> list[str]:
        """Everything written in the legend (for tests and accessibility)."""
        return [self._title] + [text for _p, text in self._ticks] + [text for _c, text in self._swatches]

    def _resize(self) -> None:
        metrics = QFontMetrics(self._font)
        texts = [(metrics.horizontalAdvance(self._title), 12)]
        texts += [(metrics.horizontalAdvance(text), 37) for _p, text in self._ticks]
        texts += [(metrics.horizontalAdvance(text), 32) for _c, text in self._swatches]
        width = max(80, max(advance + margin for advance, margin in texts) + 8)
        height = 22 + (110 if self._lut is not None else 0) + 16 * len(self._swatches)
        self.setPreferredSize(width, height)
        self.resize(width, height)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, self.size().width(), self.size().height())

    def paint(self, painter: QPainter, *_args) -> None:
        rect = self.boundingRect()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(_BACKGROUND))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(QPen(_TEXT))
        painter.drawText(QRectF(6, 3, rect.width() - 12, 16), Qt.AlignmentFlag.AlignLeft, self._title)
        y = 22.0
        if self._lut is not None:
            lut = self._lut[::-1, :3].astype(np.uint8)
            column = np.ascontiguousarray(np.repeat(lut[:, None, :], 14, axis=1))
            image = QImage(column.data, 14, len(lut), 14 * 3, QImage.Format.Format_RGB888)
            bar = QRectF(8, y, 14, 100)
            painter.drawImage(bar, image)
            painter.setPen(QPen(_TEXT))
            for position, text in self._ticks:
                tick_y = y + 100 * (1 - position)
                painter.drawLine(int(bar.right()), int(tick_y), int(bar.right()) + 4, int(tick_y))
                painter.drawText(
                    QRectF(bar.right() + 7, tick_y - 7, rect.width() - bar.right() - 9, 14),
                    Qt.AlignmentFlag.AlignVCenter,
                    text,
                )
            y += 110
        for colour, text in self._swatches:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(*colour)))
            painter.drawRect(QRectF(8, y + 2, 14, 10))
            painter.setPen(QPen(_TEXT))
            painter.drawText(QRectF(28, y, rect.width() - 32, 14), Qt.AlignmentFlag.AlignVCenter, text)
            y += 16
