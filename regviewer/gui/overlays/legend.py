"""Legends of a slice view, drawn in a column BESIDE the image, never over the anatomy.

Each slice view has a ``LegendColumn`` to the right of its image (black, like the view); it shows
only while one of its legends is shown, so a view without overlays keeps its full width. A
``ViewLegend`` is one painted box in that column: a colour bar with ticks, or colour swatches with
names. (They used to sit in a corner of the image, on top of the anatomy.)
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

_BACKGROUND = QColor(28, 28, 28)
_TEXT = QColor(235, 235, 235)
BAR_HEIGHT = 90


class LegendColumn(QWidget):
    """The column of legends beside one view's image (hidden while it holds no shown legend)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legendColumn")
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(0, 0, 0))
        self.setPalette(palette)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(3, 3, 3, 3)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)
        self.legends: list[ViewLegend] = []
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.hide()

    def add(self, legend: ViewLegend) -> None:
        self._layout.insertWidget(self._layout.count() - 1, legend)
        self.legends.append(legend)
        self.update_visibility()

    def update_visibility(self) -> None:
        shown = [legend for legend in self.legends if legend.wanted]
        if shown:
            self.setFixedWidth(max(legend.sizeHint().width() for legend in shown) + 6)
        self.setVisible(bool(shown))


class ViewLegend(QWidget):
    """A painted legend box in a view's ``LegendColumn``.

    ``set_colour_bar(title, lut, ticks, extra)``: a vertical gradient from a (n, 3|4) uint8 lookup
    table (top = last entry) with (position 0..1, text) ticks, and optional swatches below it.
    ``set_swatches(title, entries)``: a list of (RGB, text). ``show()`` / ``hide()`` also show or hide
    the column when it is the first / last legend shown.
    """

    def __init__(self, column: LegendColumn) -> None:
        super().__init__(column)
        self.column = column
        self.wanted = False
        self._title = ""
        self._lut: np.ndarray | None = None
        self._ticks: list[tuple[float, str]] = []
        self._swatches: list[tuple[tuple[int, int, int], str]] = []
        self._font = QFont(self.font())
        self._font.setPointSizeF(8.0)
        self._size = QSize(80, 22)
        super().setVisible(False)
        column.add(self)

    def setVisible(self, visible: bool) -> None:  # noqa: N802 (Qt naming)
        self.wanted = bool(visible)
        super().setVisible(visible)
        self.column.update_visibility()

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

    def sizeHint(self) -> QSize:  # noqa: N802
        return self._size

    def _resize(self) -> None:
        metrics = QFontMetrics(self._font)
        texts = [(metrics.horizontalAdvance(self._title), 12)]
        texts += [(metrics.horizontalAdvance(text), 29) for _p, text in self._ticks]
        texts += [(metrics.horizontalAdvance(text), 26) for _c, text in self._swatches]
        width = max(70, max(advance + margin for advance, margin in texts) + 4)
        height = 20 + (BAR_HEIGHT + 10 if self._lut is not None else 0) + 15 * len(self._swatches) + 2
        self._size = QSize(int(width), int(height))
        self.setFixedSize(self._size)
        self.column.update_visibility()
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        rect = QRectF(self.rect())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(_BACKGROUND))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(QPen(_TEXT))
        painter.drawText(QRectF(5, 2, rect.width() - 8, 16), Qt.AlignmentFlag.AlignLeft, self._title)
        y = 20.0
        if self._lut is not None:
            lut = np.ascontiguousarray(self._lut[::-1, :3].astype(np.uint8))
            column = np.ascontiguousarray(np.repeat(lut[:, None, :], 10, axis=1))
            image = QImage(column.data, 10, len(lut), 10 * 3, QImage.Format.Format_RGB888)
            bar = QRectF(6, y + 4, 10, BAR_HEIGHT)
            painter.drawImage(bar, image)
            painter.setPen(QPen(_TEXT))
            for position, text in self._ticks:
                tick_y = bar.top() + BAR_HEIGHT * (1 - position)
                painter.drawLine(int(bar.right()), int(tick_y), int(bar.right()) + 3, int(tick_y))
                painter.drawText(
                    QRectF(bar.right() + 6, tick_y - 7, rect.width() - bar.right() - 7, 14),
                    Qt.AlignmentFlag.AlignVCenter,
                    text,
                )
            y += BAR_HEIGHT + 10
        for colour, text in self._swatches:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(*colour)))
            painter.drawRect(QRectF(6, y + 2, 12, 10))
            painter.setPen(QPen(_TEXT))
            painter.drawText(QRectF(23, y, rect.width() - 25, 14), Qt.AlignmentFlag.AlignVCenter, text)
            y += 15
        painter.end()
