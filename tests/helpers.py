"""Small helpers shared by tests (known transforms, warped pairs)."""

from __future__ import annotations

import numpy as np

from regviewer.core.image import Image
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, Transform


def rotation(degrees_xyz) -> np.ndarray:
    """2D rotation for a scalar angle, 3D rotation Rz @ Ry @ Rx for three angles (degrees)."""
    if np.isscalar(degrees_xyz):
        t = np.radians(degrees_xyz)
        return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    ax, ay, az = np.radians(degrees_xyz)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def about_centre(image: Image, matrix: np.ndarray, translation) -> AffineTransform:
    """x -> M (x - c) + c + t, c = the image centre in mm."""
    centre = image.index_to_physical((np.array(image.geometry.size) - 1) / 2.0)
    return AffineTransform(matrix, centre - matrix @ centre + np.asarray(translation, dtype=float))


def moving_for(fixed: Image, fixed_to_moving: Transform) -> Image:
    """A moving image such that ``fixed_to_moving`` is the true registration: moving(T(x)) = fixed(x)."""
    inverse = fixed_to_moving.inverse()
    return resample_image(fixed, fixed.geometry, inverse, "linear").with_array(
        resample_image(fixed, fixed.geometry, inverse, "label" if fixed.is_label else "linear").array
    )


def max_error_mm(found: Transform, truth: Transform, points: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(found.transform_points(points) - truth.transform_points(points), axis=1)))


def foreground_points(image: Image, count: int = 200, seed: int = 0) -> np.ndarray:
    """Random voxel centres (mm) where the image is above its 60th percentile."""
    indices = np.argwhere(image.array > np.percentile(image.array, 60))
    chosen = indices[np.random.default_rng(seed).choice(len(indices), min(count, len(indices)), replace=False)]
    return image.index_to_physical(chosen[:, ::-1].astype(float))


def smooth_random_field(geometry, max_mm: float, coarse_mm: float = 16.0, seed: int = 0):
    """A smooth random displacement field (DisplacementFieldTransform) with max |u| = max_mm."""
    from scipy.ndimage import gaussian_filter, zoom

    from regviewer.core.transforms import DisplacementFieldTransform

    rng = np.random.default_rng(seed)
    coarse_shape = tuple(
        max(3, int(np.ceil(n * s / coarse_mm)) + 1) for n, s in zip(geometry.shape, geometry.spacing[::-1])
    )
    components = []
    for _ in range(geometry.ndim):
        coarse = gaussian_filter(rng.standard_normal(coarse_shape), 1.0, mode="reflect")
        components.append(zoom(coarse, np.array(geometry.shape) / np.array(coarse_shape), order=3))
    field = np.stack(components, axis=-1)
    field *= max_mm / np.linalg.norm(field, axis=-1).max()
    return DisplacementFieldTransform(field, geometry)
