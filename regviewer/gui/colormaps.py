"""Lookup tables for grey images, the signed difference and label maps."""

from __future__ import annotations

import colorsys
from functools import cache

import numpy as np
import pyqtgraph as pg

GREY_MAPS = ("grey", "inverted grey", "hot", "viridis", "inferno", "plasma")
DIFFERENCE_MAP = "CET-D1"  # blue - white - red


@cache
def lookup_table(name: str) -> np.ndarray:
    """A 256 x 3 uint8 table for a colour map name (see GREY_MAPS, DIFFERENCE_MAP)."""
    ramp = np.linspace(0, 255, 256).astype(np.uint8)
    if name == "grey":
        return np.stack([ramp] * 3, axis=1)
    if name == "inverted grey":
        return np.stack([ramp[::-1]] * 3, axis=1)
    if name == "hot":
        position = np.linspace(0, 1, 256)
        channels = [np.clip(position * 3 - offset, 0, 1) for offset in (0, 1, 2)]
        return (np.stack(channels, axis=1) * 255).astype(np.uint8)
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)


def label_colours(count: int) -> np.ndarray:
    """``count`` distinct RGB colours (uint8), evenly spread hues at two brightnesses."""
    hues = (np.arange(count) * 0.618033988749895) % 1.0
    values = np.where(np.arange(count) % 2 == 0, 1.0, 0.75)
    return np.array(
        [[round(c * 255) for c in colorsys.hsv_to_rgb(h, 0.85, v)] for h, v in zip(hues, values)], dtype=np.uint8
    ).reshape(count, 3)


class LabelPalette:
    """Colours for the values of one label map: label value -> RGBA, background transparent."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.unique(np.asarray(values))
        self.values = self.values[self.values != 0]
        colours = label_colours(len(self.values))
        self.table = np.zeros((len(self.values) + 1, 4), dtype=np.uint8)
        self.table[1:, :3] = colours
        self.table[1:, 3] = 255

    def indices(self, labels: np.ndarray) -> np.ndarray:
        """Table indices of a label slice (0 for background and unknown values)."""
        if len(self.values) == 0:
            return np.zeros(labels.shape, dtype=np.int32)
        position = np.searchsorted(self.values, labels)
        position = np.clip(position, 0, len(self.values) - 1)
        found = self.values[position] == labels
        return np.where(found, position + 1, 0).astype(np.int32)

    def rgba(self, labels: np.ndarray, opacity: float) -> np.ndarray:
        """RGBA uint8 image of a label slice."""
        image = self.table[self.indices(labels)]
        image[..., 3] = (image[..., 3] * float(np.clip(opacity, 0, 1))).astype(np.uint8)
        return image
