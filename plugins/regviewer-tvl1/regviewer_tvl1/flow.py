"""The numerics of the TV-L1 method: intensity scaling, the image pyramid and the per-warp solver.

A *flow* is an array (ndim, *shape) of displacements in voxels, numpy axis order: the moving image
sampled at ``index + flow[:, index]`` matches the fixed image at ``index``.

The solver is scikit-image's TV-L1 (``optical_flow_tvl1``) driven one pyramid level and one warp at
a time, which is what lets the method report progress and honour a cancel between warps. That needs
scikit-image's level solver ``_tvl1`` (private, present from 0.19 to at least 0.26); when a future
version lacks it, ``level_solver`` returns None and the method falls back to one public
``optical_flow_tvl1`` call (same result, progress and cancel only before and after it).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def normalised(array: np.ndarray) -> np.ndarray:
    """Intensities scaled to about 0..1 by the 1st and 99th percentiles (float32): TV-L1's
    attachment weight then means the same for every image."""
    values = np.asarray(array, np.float32)
    low, high = np.percentile(values, (1, 99))
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), -0.5, 1.5).astype(np.float32)


def pyramid(image: np.ndarray, max_levels: int, min_size: int = 16) -> list[np.ndarray]:
    """Coarse-to-fine pyramid (halving each level, smallest side >= ``min_size``), as scikit-image builds it."""
    from skimage.transform import pyramid_reduce  # scikit-image is imported when a run needs it, not with the plugin

    levels = [image]
    while len(levels) < max_levels and min(levels[-1].shape) > 2 * min_size:
        levels.append(pyramid_reduce(levels[-1], 2, channel_axis=None).astype(np.float32))
    return levels[::-1]


def expand_flow(flow: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A coarser flow on the grid ``shape``, its vectors rescaled to that grid's voxels."""
    if flow.shape[1:] == tuple(shape):
        return flow
    from skimage.transform import resize

    scale = np.array(shape, float) / np.array(flow.shape[1:], float)
    return np.stack(
        [resize(flow[axis], shape, order=1, preserve_range=True) * scale[axis] for axis in range(len(shape))]
    ).astype(np.float32)


def warp(array: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``array`` sampled at ``index + flow`` (linear; edge values outside)."""
    coordinates = np.indices(flow.shape[1:], dtype=np.float32) + flow
    return ndimage.map_coordinates(array, coordinates, order=1, mode="nearest").astype(np.float32)


def smooth_flow(flow: np.ndarray, sigma_voxels: np.ndarray) -> np.ndarray:
    """Each component smoothed with a Gaussian of ``sigma_voxels`` (per numpy axis)."""
    if not np.any(sigma_voxels > 0):
        return flow
    return np.stack([ndimage.gaussian_filter(component, sigma_voxels) for component in flow]).astype(np.float32)


def level_solver():
    """scikit-image's one-level TV-L1 solver ``_tvl1(reference, moving, flow0, attachment, tightness,
    num_warp, num_iter, tol, prefilter)``, or None when this scikit-image has none."""
    try:
        from skimage.registration._optical_flow import _tvl1
    except ImportError:
        return None
    return _tvl1
