"""Whole-volume figures behind the overlay panels: Jacobian map and folds, Dice / HD95 per label (Qt-free).

These take seconds on large volumes, so the GUI computes them off its thread and only for final
transforms (never for the previews of a running registration). The numbers are those of
``regviewer.core.evaluation`` (the CLI's metrics.json): the same Jacobian scheme, the same Dice and
HD95 functions, the moving labels resampled with nearest neighbour onto the fixed grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from regviewer.core import deformation, metrics
from regviewer.core.colour_table import ColourTable, table_for
from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Geometry, Image
from regviewer.core.resample import resample_image
from regviewer.core.transforms import (
    AffineTransform,
    DisplacementFieldTransform,
    Transform,
    simplify,
    to_displacement_field,
)

LABEL_METHODS = ("nearest", "per-label linear")


@dataclass(frozen=True, eq=False)
class DeformationSummary:
    """The Jacobian determinant of a transform over the fixed grid, its statistics and folded regions.

    Attributes:
        det: determinant map on ``geometry`` (numpy (z, y, x)).
        geometry: the fixed grid.
        stats: ``deformation.jacobian_stats`` (min, max, folded_pct, folded_count, std_log_jacobian).
        folds: connected folded regions, largest first (``deformation.fold_regions``).
        field: the displacement field sampled on the grid (None for linear transforms).
    """

    det: np.ndarray
    geometry: Geometry
    stats: dict
    folds: list
    field: DisplacementFieldTransform | None


def deformation_summary(
    transform: Transform | None, geometry: Geometry, mask: np.ndarray | None = None
) -> DeformationSummary:
    """Jacobian map, statistics and folds of a fixed -> moving transform on the fixed grid."""
    linear = None if transform is None else simplify(transform)
    field_transform = None
    if transform is None or isinstance(linear, AffineTransform):
        value = 1.0 if transform is None else float(np.linalg.det(linear.matrix))
        det = np.full(geometry.shape, value)
    else:
        field_transform = to_displacement_field(transform, geometry)
        det = deformation.jacobian_determinant(field_transform.displacement, geometry)
    return DeformationSummary(
        det,
        geometry,
        deformation.jacobian_stats(det, mask),
        deformation.fold_regions(det, geometry, mask),
        field_transform,
    )


def warp_labels(
    moving_labels: Image, geometry: Geometry, transform: Transform | None, method: str = "nearest"
) -> Image:
    """Moving labels resampled onto a fixed grid without inventing label values.

    "nearest": nearest neighbour. "per-label linear": every label's mask is resampled linearly and
    each voxel takes the label with the largest value (smoother borders, no mixed values).
    """
    if method not in LABEL_METHODS:
        raise InputMismatchError(f"label interpolation {method!r}: choose {' or '.join(LABEL_METHODS)}")
    if method == "nearest":
        return resample_image(moving_labels, geometry, transform, "label")
    values = np.unique(moving_labels.array)
    best = np.zeros(geometry.shape, dtype=np.float32)
    result = np.zeros(geometry.shape, dtype=moving_labels.array.dtype)
    for value in values[values != 0]:
        mask = moving_labels.with_array((moving_labels.array == value).astype(np.float32), is_label=False)
        weight = resample_image(mask, geometry, transform, "linear").array
        better = (weight > best) & (weight >= 0.5 - 1e-6)
        best[better] = weight[better]
        result[better] = value
    return Image(result, geometry, name=f"{moving_labels.name} (warped)", is_label=True)


@dataclass(frozen=True)
class LabelScore:
    """Overlap of one label before (identity) and after the transform."""

    value: int
    name: str
    dice_before: float
    dice_after: float
    hd95_before_mm: float
    hd95_after_mm: float
    fixed_voxels: int


@dataclass(frozen=True)
class LabelScores:
    """Per-label scores and their means (``metrics.finite_mean``: non-finite HD95 left out)."""

    rows: list = field(default_factory=list)
    dice_mean_before: float = math.nan
    dice_mean_after: float = math.nan
    hd95_mean_before_mm: float = math.nan
    hd95_mean_after_mm: float = math.nan


def label_scores(
    fixed_labels: Image,
    moving_labels: Image,
    transform: Transform | None,
    grid_transform: Transform | None = None,
    labels=None,
    table: ColourTable | None = None,
    before: Image | None = None,
) -> tuple[LabelScores, Image, Image]:
    """Dice and HD95 per label of the fixed labels vs the moving labels warped by identity and by ``transform``.

    ``grid_transform``: the same map sampled on the fixed grid (faster to resample through).
    ``before``: the identity-warped labels when the caller kept them. Returns the scores and the
    labels warped by identity and by the transform (nearest neighbour).
    """
    geometry = fixed_labels.geometry
    if before is None:
        before = resample_image(moving_labels, geometry, None, "label")
    after = resample_image(
        moving_labels, geometry, grid_transform if grid_transform is not None else transform, "label"
    )
    spacing_zyx = tuple(geometry.spacing[::-1])
    wanted = labels if labels is not None else [v for v in np.unique(fixed_labels.array).tolist() if v != 0]
    dice_before = metrics.dice_per_label(fixed_labels.array, before.array, wanted)
    dice_after = metrics.dice_per_label(fixed_labels.array, after.array, wanted)
    hd_before = metrics.hd95_per_label(fixed_labels.array, before.array, spacing_zyx, wanted)
    hd_after = metrics.hd95_per_label(fixed_labels.array, after.array, spacing_zyx, wanted)
    counts = np.bincount(fixed_labels.array.ravel().astype(np.int64)) if fixed_labels.array.min() >= 0 else None
    table = table or table_for(wanted)
    rows = [
        LabelScore(
            int(v),
            table.name(v),
            dice_before[v],
            dice_after[v],
            hd_before[v],
            hd_after[v],
            int(counts[v])
            if counts is not None and v < len(counts)
            else int(np.count_nonzero(fixed_labels.array == v)),
        )
        for v in wanted
    ]
    scores = LabelScores(
        rows,
        metrics.finite_mean(dice_before),
        metrics.finite_mean(dice_after),
        metrics.finite_mean(hd_before),
        metrics.finite_mean(hd_after),
    )
    return scores, before, after


def label_centre_mm(labels: Image, value: int) -> np.ndarray | None:
    """A point inside a label, in mm: the label voxel nearest to its centre of mass (None if absent).

    The centre of mass of a curved structure (a ventricle, the cortex) may lie outside it; the
    nearest voxel of the label does not.
    """
    mask = np.asarray(labels.array) == value
    if not mask.any():
        return None
    centre = np.array(ndimage.center_of_mass(mask))
    where = np.argwhere(mask)
    nearest = where[np.argmin(np.sum((where - centre) ** 2, axis=1))]
    return labels.index_to_physical(nearest[::-1].astype(np.float64))


def jacobian_image(summary: DeformationSummary, name: str = "jacobian") -> Image:
    """The determinant map as a float32 image on the fixed grid (for NIfTI export)."""
    return Image(summary.det.astype(np.float32), summary.geometry, name=name)
