"""VoxelMorph-style .npz volumes: arrays ``vol`` (intensities) and ``seg`` (labels).

VoxelMorph indexes its arrays (x, y, z), the transpose of RegViewer's (z, y, x): reading takes
``array.transpose(2, 1, 0)`` (``.T`` for 2D) with spacing 1 mm, origin 0 and identity direction, so a
volume read here matches ``SimpleITK.GetImageFromArray(vol.transpose(2, 1, 0))`` (the benchmark tools
rely on exactly that). The format stores no geometry: writing drops it, with a notice when it was not
the default. Archives are loaded with ``allow_pickle=False``: an .npz can never run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError, InvalidImageError
from regviewer.core.image import Geometry, Image
from regviewer.core.io._common import check_channel_unused, logger, portable_array, select_channel

INTENSITY_KEY = "vol"
LABEL_KEY = "seg"


def read_npz(path: Path, *, key: str | None = None, is_label: bool = False, channel: int | None = None) -> Image:
    """Read one array of a VoxelMorph .npz archive.

    Args:
        path: the archive.
        key: the array to read; default ``seg`` when ``is_label`` else ``vol``.
        is_label: read a label map.
        channel: for a 4D array (x, y, z, c), the channel to read.

    Raises:
        ImageReadError: not an npz archive, or no array named ``key`` (the message lists the names).
        InvalidImageError: the array is not a 2D or 3D numeric image.
    """
    chosen = key or (LABEL_KEY if is_label else INTENSITY_KEY)
    with open(path, "rb") as handle:
        if handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ImageReadError("not an .npz archive (no zip signature)")
    loaded = np.load(str(path), allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ImageReadError("not an .npz archive (a single .npy array?)")
    with loaded as archive:
        names = list(archive.files)
        if chosen not in names:
            raise ImageReadError(
                f"no array named '{chosen}' in the archive (it has: {', '.join(names) or 'nothing'}); choose one with key="
            )
        data = archive[chosen]
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool) or np.iscomplexobj(data):
        raise InvalidImageError(f"array '{chosen}' has dtype {data.dtype}, not real numbers")
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4:
        if channel is None:
            raise InvalidImageError(f"array '{chosen}' is 4D {data.shape}: pick one channel with channel=k")
        data = select_channel(data, channel, data.shape[-1], "channel")
    else:
        check_channel_unused(channel)
    if data.ndim not in (2, 3):
        raise InvalidImageError(f"array '{chosen}' has shape {data.shape}: expected a 2D or 3D image")
    array = np.ascontiguousarray(data.T)  # VoxelMorph (x, y, z) -> (z, y, x)
    geometry = Geometry(shape=array.shape, spacing=np.ones(array.ndim), origin=np.zeros(array.ndim))
    return Image(array, geometry, name=f"{path.name}:{chosen}", is_label=is_label)


def write_npz(image: Image, path: str | os.PathLike[str]) -> None:
    """Write ``image`` as a compressed VoxelMorph archive: key ``seg`` for labels, else ``vol``, in (x, y, z) order."""
    geometry = image.geometry
    if not (
        np.allclose(geometry.spacing, 1)
        and np.allclose(geometry.origin, 0)
        and np.allclose(geometry.direction, np.eye(geometry.ndim))
    ):
        logger.warning(".npz keeps no geometry: spacing, origin and direction are dropped (%s)", geometry.describe())
    key = LABEL_KEY if image.is_label else INTENSITY_KEY
    with open(path, "wb") as handle:  # a file object: numpy would otherwise append ".npz" to odd names
        np.savez_compressed(handle, **{key: portable_array(image.array).T})
