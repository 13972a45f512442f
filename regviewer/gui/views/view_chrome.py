"""Small widgets around a slice view's image: an eliding title and the window / level readout.

- ``ElidedLabel``: a title that ends in "..." when the view is too narrow (the full text is its
  tooltip) instead of being cut mid-letter, and never widens its column.
- ``WindowReadout``: "W 812  L 406" over the top-left of the image while the window / level is
  dragged, gone 1.5 s after the last change.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from regviewer.core.compose import WindowLevel

READOUT_MS = 1500


class ElidedLabel(QLabel):
    """A one-line label drawn with "..." when too narrow; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        rect = self.contentsRect().adjusted(self.margin(), 0, -self.margin(), 0)
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


class WindowReadout(QLabel):
    """The window / level numbers shown while dragging (see the module docstring)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("windowReadout")
        self.setStyleSheet(
            "background: rgba(0, 0, 0, 170); color: rgb(255, 230, 120); padding: 2px 5px; border-radius: 3px;"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(READOUT_MS)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_window(self, which: str, window: WindowLevel) -> None:
        low, high = window.level - window.window / 2, window.level + window.window / 2
        self.setText(
            f"{which}: W {_number(window.window)}  L {_number(window.level)}  ({_number(low)} .. {_number(high)})"
        )
        self.adjustSize()
        self.move(6, 6)
        self.show()
        self.raise_()
        self._timer.start()
