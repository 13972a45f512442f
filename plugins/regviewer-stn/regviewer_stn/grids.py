"""From images in mm to the network's square grid and back (numpy only, no torch).

The network sees the fixed image's field of view on a square grid of ``size`` x ``size`` pixels
(anisotropic pixels when the image is not square). With ``align_corners=False`` a pixel index i
(x, y order) sits at normalised coordinate n = (2 i + 1) / size - 1, so "physical mm -> normalised"
is an affine map P, and a normalised fixed -> moving affine theta is ``P^-1 theta P`` in mm.
"""

from __future__ import annotations

import numpy as np

from regviewer.api import AffineTransform, Geometry, Image, RegViewerError, resample_image


def square_grid(geometry: Geometry, size: int) -> Geometry:
    """A ``size`` x ``size`` grid covering the same field of view (same direction) as ``geometry``."""
    if geometry.ndim != 2:
        raise RegViewerError("stn-affine registers 2D images only (its network is 2D)")
    extent = np.array(geometry.size, float) * geometry.spacing  # (x, y) mm
    spacing = extent / size
    first_centre_index = 0.5 * np.array(geometry.size, float) / size - 0.5  # in the original index units
    origin = geometry.index_to_physical(first_centre_index)
    return Geometry((size, size), spacing, origin, geometry.direction)


def physical_to_normalised(grid: Geometry) -> np.ndarray:
    """3 x 3 homogeneous matrix: LPS mm -> normalised (x, y) coordinates of ``grid``."""
    index_to_physical = np.eye(3)
    index_to_physical[:2, :2] = grid.direction @ np.diag(grid.spacing)
    index_to_physical[:2, 2] = grid.origin
    size = np.array(grid.size, float)
    index_to_normalised = np.eye(3)
    index_to_normalised[:2, :2] = np.diag(2.0 / size)
    index_to_normalised[:2, 2] = 1.0 / size - 1.0
    return index_to_normalised @ np.linalg.inv(index_to_physical)


def theta_to_transform(theta: np.ndarray, grid: Geometry) -> AffineTransform:
    """A normalised fixed -> moving ``theta`` (2 x 3) as a fixed -> moving affine in mm."""
    to_normalised = physical_to_normalised(grid)
    homogeneous = np.vstack([np.asarray(theta, float).reshape(2, 3), [0.0, 0.0, 1.0]])
    return AffineTransform.from_homogeneous(np.linalg.inv(to_normalised) @ homogeneous @ to_normalised)


def transform_to_theta(transform: AffineTransform, grid: Geometry) -> np.ndarray:
    """The inverse of ``theta_to_transform``."""
    to_normalised = physical_to_normalised(grid)
    return (to_normalised @ transform.homogeneous @ np.linalg.inv(to_normalised))[:2]


def normalised_intensities(array: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Intensities scaled to about 0..1 by the 1st / 99th percentiles of ``reference`` (default: ``array``)."""
    source = np.asarray(array if reference is None else reference, np.float32)
    low, high = np.percentile(source, (1, 99))
    high = high if high > low else low + 1.0
    return np.clip((np.asarray(array, np.float32) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def on_grid(image: Image, grid: Geometry, transform=None) -> np.ndarray:
    """``image`` (through ``transform``, fixed -> image) resampled onto ``grid``, intensities 0..1.

    The image is smoothed first when the grid is much coarser than it (no aliasing)."""
    from scipy.ndimage import gaussian_filter

    ratio = grid.spacing / image.spacing  # (x, y)
    if np.any(ratio > 1.5):
        image = image.with_array(gaussian_filter(np.asarray(image.array, np.float32), np.maximum(ratio[::-1] / 2.5, 0)))
    return normalised_intensities(resample_image(image, grid, transform, "linear").array)
