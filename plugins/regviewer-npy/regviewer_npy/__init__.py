"""Plain NumPy ``.npy`` images: an example RegViewer reader / writer plugin using only ``regviewer.api``.

The array is read as it is stored, in (z, y, x) (or (y, x)) order. Geometry lives in an optional JSON
sidecar ``NAME.npy.json`` holding ``spacing``, ``origin`` and ``direction`` in ITK (x, y, z) order,
LPS mm; without it pixels are 1 mm at the origin. Colour or 4D arrays need ``channel`` (the last axis).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from regviewer.api import Geometry, Image, ImageReader, ImageWriter, InvalidImageError, atomic_path, write_text_atomic

__version__ = "0.1.0"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_npy(path: Path, is_label: bool = False, channel: int | None = None) -> Image:
    """Read ``path`` (a .npy array, never a pickle) and its optional geometry sidecar."""
    array = np.load(path, allow_pickle=False)
    if channel is not None:
        if array.ndim not in (3, 4) or not 0 <= channel < array.shape[-1]:
            raise InvalidImageError(f"channel {channel} does not exist in an array of shape {array.shape}")
        array = array[..., channel]
    if array.ndim not in (2, 3):
        raise InvalidImageError(
            f"a .npy image must be 2D or 3D, got shape {array.shape} (use channel=k for the last axis)"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InvalidImageError(f"a .npy image must hold numbers, got {array.dtype}")
    ndim = array.ndim
    geometry = {"spacing": [1.0] * ndim, "origin": [0.0] * ndim, "direction": np.eye(ndim).ravel().tolist()}
    sidecar = _sidecar(path)
    if sidecar.is_file():
        geometry.update(json.loads(sidecar.read_text(encoding="utf-8")))
    grid = Geometry(
        array.shape, geometry["spacing"], geometry["origin"], np.reshape(geometry["direction"], (ndim, ndim))
    )
    return Image(np.ascontiguousarray(array), grid, name=path.name, is_label=is_label)


def write_npy(image: Image, path: Path) -> None:
    """Write the array to ``path`` and its geometry beside it (``NAME.npy.json``), each file atomically."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, image.array, allow_pickle=False)
    geometry = {
        "spacing": image.spacing.tolist(),
        "origin": image.origin.tolist(),
        "direction": image.direction.ravel().tolist(),
        "frame": "LPS mm, ITK (x, y, z) order",
    }
    write_text_atomic(_sidecar(path), json.dumps(geometry, indent=1))


READER = ImageReader("npy", (".npy",), read_npy, "NumPy array (.npy)")
WRITER = ImageWriter("npy", (".npy",), write_npy, "NumPy array (.npy)")
