"""What a set of linked views shows: images, label maps and the current transform (Qt-free).

``Scene`` hands out 2D slices ([row, col], ready to draw) of six layers on demand:

- "fixed", "fixed_labels": on the fixed grid;
- "moving", "moving_labels": on the moving image's display grid (identity: where the moving image
  lies in physical space);
- "warped", "warped_labels": the moving image resampled into the fixed grid through the
  fixed -> moving transform, one slice at a time (so large volumes stay interactive), with the
  vectorised ``slice_warp`` path where it applies and ``SliceResampler`` otherwise.

Slices are cached per (layer, plane, index) and the cache is dropped when a layer changes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry, Image
from regviewer.core.planes import DisplayGrid, DisplaySpace, PlaneAxes, lift_image, lift_point
from regviewer.core.resample import SliceResampler
from regviewer.core.slice_warp import sample as sample_points
from regviewer.core.slice_warp import warp_slice
from regviewer.core.transforms import Transform

LAYERS = ("fixed", "moving", "warped", "fixed_labels", "moving_labels", "warped_labels")
_CACHE_SIZE = 96


@dataclass
class _Layer:
    """One drawable layer: a source image shown on a display grid, through an optional transform."""

    source: Image
    grid: DisplayGrid
    transform: Transform | None
    interpolation: str
    resampler: SliceResampler | None = None

    def direct(self) -> bool:
        return self.transform is None and lift_image(self.source).geometry.same_as(self.grid.geometry)

    def slice(self, axes: PlaneAxes, index: int) -> np.ndarray:
        if self.direct():
            return self.grid.take(lift_image(self.source).array, axes, index)
        label = self.interpolation == "label"
        if self.source.ndim == 2:
            reference = _drop_z(self.grid.geometry)
            fast = warp_slice(self.source, self.transform, reference, label)
            if fast is not None:
                return self.grid.orient(axes, fast)
            if self.resampler is None:
                self.resampler = SliceResampler(self.source, reference, self.transform, self.interpolation)
            return self.grid.orient(axes, self.resampler.full())
        fast = warp_slice(self.source, self.transform, self.grid.slice_geometry(axes, index), label)
        if fast is not None:
            return self.grid.orient(axes, fast)
        if self.resampler is None:
            self.resampler = SliceResampler(self.source, self.grid.geometry, self.transform, self.interpolation)
        return self.grid.orient(axes, self.resampler.slice(2 - axes.normal, index))


def _drop_z(geometry: Geometry) -> Geometry:
    """The 2D grid of a lifted one-slice 3D grid."""
    return Geometry(geometry.shape[1:], geometry.spacing[:2], geometry.origin[:2], geometry.direction[:2, :2])


class Scene:
    """Images, labels and transform of a viewer, with slices on demand."""

    def __init__(self) -> None:
        self.fixed: Image | None = None
        self.moving: Image | None = None
        self.fixed_labels: Image | None = None
        self.moving_labels: Image | None = None
        self.transform: Transform | None = None
        self.space: DisplaySpace | None = None
        self._layers: dict[str, _Layer] = {}
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._label_values: np.ndarray | None = None
        self.version = 0

    # ---- content ------------------------------------------------------------------------------
    def set_images(
        self,
        fixed: Image | None = None,
        moving: Image | None = None,
        fixed_labels: Image | None = None,
        moving_labels: Image | None = None,
        transform: Transform | None = None,
    ) -> None:
        """Replace the whole content at once (checked first: on error nothing changes)."""
        reference = fixed if fixed is not None else moving
        for image, what in ((moving, "moving image"), (fixed_labels, "fixed labels"), (moving_labels, "moving labels")):
            if image is not None and reference is not None and image.ndim != reference.ndim:
                raise InputMismatchError(
                    f"the {what} is {image.ndim}D but the {'fixed' if fixed is not None else 'moving'} image is "
                    f"{reference.ndim}D: both must have the same dimension"
                )
        if transform is not None and reference is not None and transform.ndim != reference.ndim:
            raise InputMismatchError(f"a {transform.ndim}D transform does not fit {reference.ndim}D images")
        same_labels = fixed_labels is self.fixed_labels and moving_labels is self.moving_labels
        label_values = self._label_values
        self.fixed, self.moving = fixed, moving
        self.fixed_labels, self.moving_labels = fixed_labels, moving_labels
        self.transform = transform
        self.space = DisplaySpace(reference.geometry) if reference is not None else None
        self._rebuild()
        if same_labels:  # a new transform (e.g. a live preview) keeps the label list: np.unique is not free
            self._label_values = label_values

    def replace(self, **changes) -> None:
        """Change some of fixed / moving / fixed_labels / moving_labels / transform (checked first)."""
        content = dict(
            fixed=self.fixed,
            moving=self.moving,
            fixed_labels=self.fixed_labels,
            moving_labels=self.moving_labels,
            transform=self.transform,
        )
        unknown = set(changes) - set(content)
        if unknown:
            raise TypeError(f"unknown scene content: {', '.join(sorted(unknown))}")
        content.update(changes)
        self.set_images(**content)

    def _rebuild(self) -> None:
        self._layers.clear()
        self._cache.clear()
        self._label_values = None
        self.version += 1
        if self.space is None:
            return
        reference = self.fixed if self.fixed is not None else self.moving
        fixed_grid = self.space.grid_for(reference.geometry)
        moving_grid = self.space.grid_for(self.moving.geometry) if self.moving is not None else None
        if self.fixed is not None:
            self._layers["fixed"] = _Layer(self.fixed, fixed_grid, None, "linear")
        if self.fixed_labels is not None:
            self._layers["fixed_labels"] = _Layer(self.fixed_labels, fixed_grid, None, "label")
        if self.moving is not None:
            self._layers["moving"] = _Layer(self.moving, moving_grid, None, "linear")
            self._layers["warped"] = _Layer(self.moving, fixed_grid, self.transform, "linear")
        if self.moving_labels is not None:
            grid = moving_grid if moving_grid is not None else fixed_grid
            self._layers["moving_labels"] = _Layer(self.moving_labels, grid, None, "label")
            self._layers["warped_labels"] = _Layer(self.moving_labels, fixed_grid, self.transform, "label")

    # ---- queries ------------------------------------------------------------------------------
    def label_values(self) -> np.ndarray:
        """Sorted label values (0 excluded) found in the fixed and moving label maps, for one shared palette."""
        if self._label_values is None:
            found = [np.unique(image.array) for image in (self.fixed_labels, self.moving_labels) if image is not None]
            values = np.unique(np.concatenate(found)) if found else np.zeros(0)
            self._label_values = values[values != 0]
        return self._label_values

    def has(self, layer: str) -> bool:
        return layer in self._layers

    def grid(self, layer: str) -> DisplayGrid | None:
        found = self._layers.get(layer)
        return found.grid if found is not None else None

    def slice(self, layer: str, plane: str, point_mm: np.ndarray) -> tuple[np.ndarray | None, DisplayGrid | None]:
        """The slice of ``layer`` through a physical point, as [row, col], and the grid it lies on.

        Returns (None, grid) when the point is outside the layer's grid along the plane normal, and
        (None, None) when the layer is not loaded.
        """
        found = self._layers.get(layer)
        if found is None or self.space is None:
            return None, None
        axes = self.space.axes(plane)
        index = found.grid.slice_index(axes, self.space.to_display(lift_point(point_mm)))
        if index is None:
            return None, found.grid
        key = (layer, plane, index)
        cached = self._cache.get(key)
        if cached is None:
            cached = found.slice(axes, index)
            self._cache[key] = cached
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return cached, found.grid

    def value(self, layer: str, point_mm: np.ndarray) -> float | None:
        """Intensity of a layer at a physical point (linear; nearest for labels), None outside."""
        if layer == "warped":
            if self.moving is None:
                return None
            point = np.asarray(point_mm, dtype=np.float64)[: self.moving.ndim]
            if self.transform is not None:
                point = self.transform.transform_points(point[np.newaxis])[0]
            return sample(self.moving, point)
        image = {
            "fixed": self.fixed,
            "moving": self.moving,
            "fixed_labels": self.fixed_labels,
            "moving_labels": self.moving_labels,
        }.get(layer)
        if image is None:
            return None
        return sample(image, np.asarray(point_mm, dtype=np.float64)[: image.ndim])

    def voxel_index(self, layer: str, point_mm: np.ndarray) -> tuple[int, ...] | None:
        """Nearest voxel index (x, y[, z]) of the fixed or moving image at a point, None outside."""
        image = self.fixed if layer == "fixed" else self.moving if layer == "moving" else None
        if image is None:
            return None
        index = np.floor(image.physical_to_index(np.asarray(point_mm)[: image.ndim]) + 0.5).astype(int)
        if np.any(index < 0) or np.any(index >= np.array(image.geometry.size)):
            return None
        return tuple(int(v) for v in index)

    def centre_mm(self) -> np.ndarray:
        """Physical centre of the reference grid (3-vector), or the origin when nothing is loaded."""
        if self.space is None:
            return np.zeros(3)
        reference = self.space.reference
        return reference.index_to_physical((np.array(reference.size) - 1) / 2.0)


def sample(image: Image, point_mm: np.ndarray) -> float | None:
    """Value of an image at one physical point: linear interpolation, nearest for labels; None outside."""
    point = np.asarray(point_mm, dtype=np.float64).reshape(1, -1)
    index = image.physical_to_index(point)
    if np.any(index < -0.5) or np.any(index >= np.array(image.geometry.size) - 0.5):
        return None
    return float(sample_points(image, point, order=0 if image.is_label else 1)[0])
