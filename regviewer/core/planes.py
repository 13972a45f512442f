"""Display planes in physical space: the maths behind linked slice views (Qt-free).

Every view shows a slice in one shared 2D coordinate system so that the cursor, zoom and pan link
whatever the spacing, size and orientation of the images:

- ``DisplaySpace`` is built from the reference (fixed) grid. A physical point p (LPS mm) has
  display coordinates ``q = D^T (p - O)`` in mm along the reference's index axes (D: its direction,
  O: its origin). A view of a plane draws ``q[col]`` horizontally and ``q[row]`` vertically.
- Axial / coronal / sagittal planes are the reference index axes closest to the anatomical axes;
  flips keep the radiological convention (patient left on screen right, anterior up in axial,
  superior up in coronal and sagittal).
- ``DisplayGrid`` is a grid aligned with the display space: the reference grid itself, or for an
  image with another direction a grid covering it (resampled slice by slice on demand).

2D images are lifted to 3D grids with one slice so that one code path serves both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from regviewer.core.image import Geometry, Image

PLANES = ("axial", "coronal", "sagittal")
# Anatomical axis (LPS xyz index) each plane looks along, and screen right / screen down directions.
_PLANE_NORMAL = {"sagittal": 0, "coronal": 1, "axial": 2}
_SCREEN_RIGHT = {"axial": (1.0, 0.0, 0.0), "coronal": (1.0, 0.0, 0.0), "sagittal": (0.0, 1.0, 0.0)}
_SCREEN_DOWN = {"axial": (0.0, 1.0, 0.0), "coronal": (0.0, 0.0, -1.0), "sagittal": (0.0, 0.0, -1.0)}


def lift_geometry(geometry: Geometry) -> Geometry:
    """A 3D grid with one slice at z = 0 for a 2D grid; 3D grids are returned unchanged."""
    if geometry.ndim == 3:
        return geometry
    direction = np.eye(3)
    direction[:2, :2] = geometry.direction
    return Geometry(
        (1,) + tuple(geometry.shape),
        np.append(geometry.spacing, 1.0),
        np.append(geometry.origin, 0.0),
        direction,
    )


def lift_image(image: Image) -> Image:
    """``image`` as a 3D image (one slice for 2D images; the array is a view, not a copy)."""
    if image.ndim == 3:
        return image
    return Image(image.array[np.newaxis], lift_geometry(image.geometry), name=image.name, is_label=image.is_label)


def lift_point(point_mm: np.ndarray) -> np.ndarray:
    """A 2D or 3D point as a 3-vector (z = 0 for 2D)."""
    point_mm = np.asarray(point_mm, dtype=np.float64).reshape(-1)
    return point_mm if point_mm.size == 3 else np.append(point_mm, 0.0)


@dataclass(frozen=True)
class PlaneAxes:
    """How one plane of the display space maps to the screen.

    Attributes:
        plane: "axial", "coronal" or "sagittal".
        normal: display axis (0..2, x/y/z index order) the plane looks along.
        col: display axis drawn horizontally.
        row: display axis drawn vertically.
        flip_x: True when q[col] must grow to the left on screen.
        y_down: True when q[row] must grow downward on screen.
    """

    plane: str
    normal: int
    col: int
    row: int
    flip_x: bool
    y_down: bool


class DisplaySpace:
    """The shared display coordinates of a set of linked views, defined by a reference grid."""

    def __init__(self, reference: Geometry) -> None:
        self.reference = lift_geometry(reference)
        self.is_2d = reference.ndim == 2
        self.direction = self.reference.direction
        self.origin = self.reference.origin
        self._axes = {plane: self._plane_axes(plane, normal) for plane, normal in self._normals().items()}

    def _normals(self) -> dict[str, int]:
        """Reference axis looked along by each plane: the permutation closest to the anatomical axes."""
        if self.is_2d:
            return {"axial": 2}
        weight = np.abs(self.direction)  # weight[anatomical axis, reference axis]
        best = max(itertools.permutations(range(3)), key=lambda perm: sum(weight[a, perm[a]] for a in range(3)))
        return {plane: best[_PLANE_NORMAL[plane]] for plane in PLANES}

    def _plane_axes(self, plane: str, normal: int) -> PlaneAxes:
        right, down = np.array(_SCREEN_RIGHT[plane]), np.array(_SCREEN_DOWN[plane])
        first, second = [axis for axis in range(3) if axis != normal]
        if abs(self.direction[:, second] @ right) > abs(self.direction[:, first] @ right):
            first, second = second, first
        return PlaneAxes(
            plane=plane,
            normal=normal,
            col=first,
            row=second,
            flip_x=bool(self.direction[:, first] @ right < 0),
            y_down=bool(self.direction[:, second] @ down >= 0),
        )

    @property
    def planes(self) -> tuple[str, ...]:
        """Planes a view may show: all three for 3D, only axial for 2D."""
        return tuple(self._axes)

    def axes(self, plane: str) -> PlaneAxes:
        try:
            return self._axes[plane]
        except KeyError:
            raise ValueError(f"plane {plane!r} is not available (choose from {', '.join(self._axes)})") from None

    def to_display(self, point_mm: np.ndarray) -> np.ndarray:
        """LPS mm (..., 3) -> display coordinates q (..., 3)."""
        return (np.asarray(point_mm, dtype=np.float64) - self.origin) @ self.direction

    def to_physical(self, q: np.ndarray) -> np.ndarray:
        """Display coordinates q (..., 3) -> LPS mm (..., 3)."""
        return np.asarray(q, dtype=np.float64) @ self.direction.T + self.origin

    def scene_point(self, plane: str, point_mm: np.ndarray) -> tuple[float, float]:
        """Where a physical point lies in a plane's scene (horizontal, vertical), in mm."""
        axes = self.axes(plane)
        q = self.to_display(lift_point(point_mm))
        return float(q[axes.col]), float(q[axes.row])

    def point_from_scene(self, plane: str, scene_x: float, scene_y: float, through_mm: np.ndarray) -> np.ndarray:
        """The physical point at scene position (x, y) of a plane through ``through_mm``."""
        axes = self.axes(plane)
        q = self.to_display(lift_point(through_mm))
        q[axes.col], q[axes.row] = scene_x, scene_y
        return self.to_physical(q)

    def grid_for(self, geometry: Geometry) -> DisplayGrid:
        """The display grid that shows an image with this geometry."""
        return DisplayGrid.covering(self, lift_geometry(geometry))


@dataclass(frozen=True)
class DisplayGrid:
    """A 3D grid aligned with a display space.

    Attributes:
        geometry: the grid (direction equal to the display space's).
        offset: display coordinates q of voxel (0, 0, 0).
        resampled: False when the grid is the image's own grid (slices are plain array views),
            True when slices must be resampled from the image.
    """

    geometry: Geometry
    offset: np.ndarray
    resampled: bool

    @classmethod
    def covering(cls, space: DisplaySpace, geometry: Geometry) -> DisplayGrid:
        if np.allclose(geometry.direction, space.direction, atol=1e-4):
            return cls(geometry, space.to_display(geometry.origin), resampled=False)
        # Another orientation: a display-aligned grid over the image's bounding box, with the
        # spacing of the image axis closest to each display axis.
        corners = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in geometry.size])))
        q = space.to_display(geometry.index_to_physical(corners))
        alignment = np.abs(space.direction.T @ geometry.direction)  # [display axis, image axis]
        spacing = geometry.spacing[np.argmax(alignment, axis=1)]
        low, high = q.min(axis=0), q.max(axis=0)
        size = np.maximum(1, np.round((high - low) / spacing)).astype(int)
        offset = low + spacing / 2
        grid = Geometry(tuple(int(n) for n in size[::-1]), spacing, space.to_physical(offset), space.direction)
        return cls(grid, offset, resampled=True)

    @property
    def spacing(self) -> np.ndarray:
        return self.geometry.spacing

    def slice_index(self, axes: PlaneAxes, point_q: np.ndarray) -> int | None:
        """Index of the slice through ``point_q`` along the plane normal, or None outside the grid."""
        index = int(np.floor((point_q[axes.normal] - self.offset[axes.normal]) / self.spacing[axes.normal] + 0.5))
        return index if 0 <= index < self.geometry.size[axes.normal] else None

    def slice_centre(self, axes: PlaneAxes, index: int) -> float:
        """Display coordinate, along the plane normal, of slice ``index``."""
        return float(self.offset[axes.normal] + index * self.spacing[axes.normal])

    def scene_rect(self, axes: PlaneAxes) -> tuple[float, float, float, float]:
        """(x, y, width, height) in scene mm covered by a slice drawn as an image."""
        size, spacing, offset = self.geometry.size, self.spacing, self.offset
        return (
            float(offset[axes.col] - spacing[axes.col] / 2),
            float(offset[axes.row] - spacing[axes.row] / 2),
            float(size[axes.col] * spacing[axes.col]),
            float(size[axes.row] * spacing[axes.row]),
        )

    def slice_geometry(self, axes: PlaneAxes, index: int) -> Geometry:
        """The one-voxel-thick grid of a slice (for resampling)."""
        start = np.zeros(3)
        start[axes.normal] = index
        shape = list(self.geometry.shape)
        shape[2 - axes.normal] = 1
        return Geometry(tuple(shape), self.spacing, self.geometry.index_to_physical(start), self.geometry.direction)

    def orient(self, axes: PlaneAxes, slice_3d: np.ndarray) -> np.ndarray:
        """A slice taken along the normal, as a 2D array [row, col] for drawing (row-major)."""
        plane = np.take(slice_3d, 0, axis=2 - axes.normal) if slice_3d.ndim == 3 else slice_3d
        # The remaining numpy axes are in decreasing display-axis order: rows = larger axis.
        return plane if axes.row > axes.col else plane.T

    def take(self, array: np.ndarray, axes: PlaneAxes, index: int) -> np.ndarray:
        """Slice ``index`` of an array on this grid, as [row, col] (a view when possible)."""
        slicer: list[slice | int] = [slice(None)] * 3
        slicer[2 - axes.normal] = index
        return self.orient(axes, array[tuple(slicer)])
