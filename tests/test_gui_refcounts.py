"""Guard against the Qt binding bug that aborted the interpreter at exit ("bool_dealloc").

PySide6 6.12.0 releases Python's ``True`` once too often in QGraphicsItem calls that pyqtgraph makes
on every redraw; after a few thousand redraws the interpreter aborts. The views redraw constantly,
so the binding in use must keep True's reference count steady.
"""

import sys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF


def test_redraw_calls_keep_true_alive(qapp):
    box = pg.ViewBox()
    image = pg.ImageItem(axisOrder="row-major")
    line = pg.InfiniteLine(angle=90)
    box.addItem(image)
    box.addItem(line)
    pixels = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    before = sys.getrefcount(True)
    for step in range(300):
        image.setImage(pixels, autoLevels=False, levels=(0, 1))
        image.setRect(QRectF(0, 0, 10, 10))
        line.setPos(step)
        box.setRange(xRange=(0, step + 1), yRange=(0, 5), padding=0)
    assert sys.getrefcount(True) - before > -50
