"""Pixel maths of the comparison views: window / level, checkerboard, difference, blend, swipe.

Every function works on 2D slices already on one grid ([row, col]) and returns float32 arrays in
display units: 0..1 for grey views, -1..1 for the signed difference. Window / level is applied to
each image first, so fixed and warped tiles keep their own contrast (useful across modalities).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MODES = ("fixed", "moving", "warped", "checkerboard", "difference", "blend", "flicker", "swipe")
COMPARISON_MODES = ("checkerboard", "difference", "blend", "flicker", "swipe")


@dataclass(frozen=True)
class WindowLevel:
    """A display window: intensities from ``level - window/2`` (black) to ``level + window/2`` (white)."""

    window: float
    level: float

    @property
    def low(self) -> float:
        return self.level - self.window / 2

    @property
    def high(self) -> float:
        return self.level + self.window / 2

    @classmethod
    def from_range(cls, low: float, high: float) -> WindowLevel:
        return cls(max(float(high - low), 1e-6), float(low + high) / 2)

    def adjusted(self, d_window: float, d_level: float) -> WindowLevel:
        return WindowLevel(max(self.window + d_window, 1e-6), self.level + d_level)


# Presets in the units of the image (Hounsfield units for CT); None = automatic from percentiles.
WINDOW_PRESETS: dict[str, WindowLevel | None] = {
    "Auto": None,
    "CT soft tissue": WindowLevel(400, 40),
    "CT lung": WindowLevel(1500, -600),
    "CT bone": WindowLevel(2000, 300),
    "CT brain": WindowLevel(80, 40),
    "Brain MR": None,
}


def auto_window(
    array: np.ndarray,
    low_percent: float = 0.5,
    high_percent: float = 99.5,
    nonzero: bool = False,
    max_samples: int = 200_000,
) -> WindowLevel:
    """Window from intensity percentiles (on a subsample for speed); ``nonzero`` ignores background."""
    values = np.asarray(array).reshape(-1)
    if values.size > max_samples:
        values = values[:: values.size // max_samples + 1]
    values = values[np.isfinite(values)]
    if nonzero:
        foreground = values[values != 0]
        values = foreground if foreground.size else values
    if values.size == 0:
        return WindowLevel(1.0, 0.5)
    low, high = np.percentile(values.astype(np.float64), [low_percent, high_percent])
    if high <= low:
        low, high = float(values.min()), float(values.max())
        if high <= low:
            high = low + 1.0
    return WindowLevel.from_range(low, high)


def preset_window(name: str, array: np.ndarray) -> WindowLevel:
    """The window of a named preset for an image (automatic presets look at the image)."""
    if name not in WINDOW_PRESETS:
        raise ValueError(f"unknown window preset {name!r}")
    preset = WINDOW_PRESETS[name]
    if preset is not None:
        return preset
    if name == "Brain MR":
        return auto_window(array, 1.0, 99.0, nonzero=True)
    return auto_window(array)


def normalise_intensity(array: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Robust min-max scaling to 0..1 (clipped): the percentiles become 0 and 1 (engines' and networks' inputs)."""
    values = np.asarray(array, dtype=np.float32)
    flat = values.reshape(-1)
    low, high = np.percentile(flat[:: max(1, flat.size // 1_000_000)], [low_percentile, high_percentile])
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def normalise(array: np.ndarray, window: WindowLevel) -> np.ndarray:
    """Intensities mapped through a window to 0..1 (float32)."""
    scaled = (np.asarray(array, dtype=np.float32) - np.float32(window.low)) * np.float32(1.0 / window.window)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def checker_mask(shape: tuple[int, int], tile_px: tuple[float, float]) -> np.ndarray:
    """True where the checkerboard shows the first image: tiles of ``tile_px`` (rows, cols) pixels."""
    return _checker_mask(tuple(int(n) for n in shape), (float(tile_px[0]), float(tile_px[1])))


@lru_cache(maxsize=16)
def _checker_mask(shape: tuple[int, int], tile_px: tuple[float, float]) -> np.ndarray:
    rows = (np.arange(shape[0]) // max(tile_px[0], 1.0)).astype(np.int64)
    cols = (np.arange(shape[1]) // max(tile_px[1], 1.0)).astype(np.int64)
    mask = ((rows[:, None] + cols[None, :]) % 2) == 0
    mask.setflags(write=False)  # shared by every caller through the cache
    return mask


def checkerboard(first: np.ndarray, second: np.ndarray, tile_px: tuple[float, float]) -> np.ndarray:
    """Alternating tiles of two equally shaped slices (first image in the top-left tile)."""
    return np.where(checker_mask(first.shape, tile_px), first, second).astype(np.float32, copy=False)


def difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Signed difference ``first - second`` of normalised slices, in -1..1."""
    return np.subtract(first, second, dtype=np.float32)


def blend(first: np.ndarray, second: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * first + (1 - alpha) * second``."""
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return (np.float32(alpha) * first + np.float32(1.0 - alpha) * second).astype(np.float32, copy=False)


def swipe(first: np.ndarray, second: np.ndarray, divider_col: float) -> np.ndarray:
    """First image left of column ``divider_col``, second image right of it."""
    columns = np.arange(first.shape[1])[None, :]
    return np.where(columns < divider_col, first, second).astype(np.float32, copy=False)
