"""Quality of a transform: image, label, landmark and deformation figures, before and after.

Used by the CLI (metrics.json) and, later, by the GUI's run history, so that both report the same
numbers under the same names (see CONVENTIONS.md, "Metrics").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regviewer.core import deformation, metrics
from regviewer.core.image import Image
from regviewer.core.resample import resample_image
from regviewer.core.transforms import (
    AffineTransform,
    DisplacementFieldTransform,
    Transform,
    simplify,
    to_displacement_field,
)


@dataclass(frozen=True, eq=False)
class EvaluationData:
    """What a transform is judged on; everything but the images is optional."""

    fixed: Image
    moving: Image
    fixed_mask: Image | None = None
    fixed_labels: Image | None = None
    moving_labels: Image | None = None
    fixed_landmarks: np.ndarray | None = None
    moving_landmarks: np.ndarray | None = None
    score_labels: Sequence[int] | None = None


def _overlap_mask(data: EvaluationData, transforms: Sequence[Transform | None]) -> np.ndarray:
    """Fixed voxels that every transform maps inside the moving image (and inside the fixed mask)."""
    inside = Image(np.ones(data.moving.shape, np.uint8), data.moving.geometry, is_label=True)
    mask = np.ones(data.fixed.shape, dtype=bool)
    for transform in transforms:
        mask &= resample_image(inside, data.fixed.geometry, transform, "nearest").array > 0
    if data.fixed_mask is not None:
        mask &= np.asarray(data.fixed_mask.array) > 0
    return mask


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly: NaN / inf become None."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out[key] = _clean(value)
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        else:
            out[key] = value
    return out


def displacement_field(transform: Transform, data: EvaluationData) -> DisplacementFieldTransform:
    """The full fixed -> moving map sampled on the fixed grid (mm, LPS)."""
    return to_displacement_field(transform, data.fixed.geometry)


def jacobian_figures(
    transform: Transform, data: EvaluationData, field: DisplacementFieldTransform | None = None
) -> dict[str, Any]:
    """Jacobian determinant statistics of the fixed -> moving map over the fixed grid (or fixed mask)."""
    linear = simplify(transform)
    mask = None if data.fixed_mask is None else np.asarray(data.fixed_mask.array) > 0
    if isinstance(linear, AffineTransform):  # constant determinant: no field needed
        det = np.full(data.fixed.shape, np.linalg.det(linear.matrix))
    else:
        field = field or displacement_field(transform, data)
        det = deformation.jacobian_determinant(field.displacement, field.geometry)
    return deformation.jacobian_stats(det, mask)


def evaluate(
    transform: Transform | None,
    data: EvaluationData,
    mask: np.ndarray | None = None,
    field: DisplacementFieldTransform | None = None,
    warped: Image | None = None,
    warped_labels: Image | None = None,
) -> dict[str, Any]:
    """Figures for one transform (None = identity), named as in metrics.json.

    ``field``: the same map sampled on the fixed grid (``displacement_field``). It is exact at the
    fixed voxel centres and much faster to resample through than a B-spline, so it is used for the
    images and labels when given; landmarks always use ``transform`` itself. ``warped`` and
    ``warped_labels``: the moving image and labels already resampled by the caller (not redone).
    """
    result: dict[str, Any] = {}
    grid_transform = field if field is not None else transform
    if warped is None:
        warped = resample_image(data.moving, data.fixed.geometry, grid_transform, "linear")
    fixed_values = np.asarray(data.fixed.array, dtype=np.float32)
    result.update(metrics.image_metrics(fixed_values, warped.array, mask))
    if data.fixed_labels is not None and data.moving_labels is not None:
        if warped_labels is None:
            warped_labels = resample_image(data.moving_labels, data.fixed.geometry, grid_transform, "label")
        spacing_zyx = tuple(data.fixed.spacing[::-1])
        result.update(
            metrics.label_metrics(data.fixed_labels.array, warped_labels.array, spacing_zyx, data.score_labels)
        )
    if data.fixed_landmarks is not None and data.moving_landmarks is not None:
        moving_points = np.asarray(data.moving_landmarks, dtype=np.float64)
        carried = moving_points if transform is None else transform.inverse_transform_points(moving_points)
        distances = metrics.tre(data.fixed_landmarks, carried)
        summary = metrics.tre_summary(distances)
        result.update(
            {
                "tre_mean_mm": summary["tre_mean_mm"],
                "tre_max_mm": summary["tre_max_mm"],
                "tre_median_mm": summary["tre_median_mm"],
            }
        )
    return _clean(result)


def before_after(
    transform: Transform,
    data: EvaluationData,
    field: DisplacementFieldTransform | None = None,
    warped: Image | None = None,
    warped_labels: Image | None = None,
) -> dict[str, Any]:
    """``{"before": ..., "after": ...}``: identity vs ``transform``, image metrics on a common overlap mask."""
    mask = _overlap_mask(data, [None, field if field is not None else transform])
    if not mask.any():
        mask = None
    before = evaluate(None, data, mask)
    after = evaluate(transform, data, mask, field, warped, warped_labels)
    after.update(_clean(jacobian_figures(transform, data, field)))
    return {"before": before, "after": after}


def quality_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Plain-language warnings about a result, for users who only look at the summary.

    A registration can "finish" and still be wrong; these catch the clear cases: a folding field,
    and figures that got worse than doing nothing.
    """
    warnings = []
    folded = after.get("folded_pct")
    if folded:
        warnings.append(
            f"the deformation folds in {folded:.3g}% of the fixed grid (Jacobian determinant <= 0): check the result; "
            "the images may differ too much for this method (try fewer iterations, a coarser mesh, or a multi-modal preset)"
        )
    for key, label in (
        ("dice_mean", "the mean Dice"),
        ("ncc", "the correlation (NCC)"),
        ("tre_mean_mm", "the landmark error (TRE)"),
    ):
        if before.get(key) is None or after.get(key) is None:
            continue
        worse = after[key] > before[key] + 1e-6 if key == "tre_mean_mm" else after[key] < before[key] - 1e-6
        if worse:
            warnings.append(
                f"{label} is worse after registration ({before[key]:.4g} -> {after[key]:.4g}): check the result"
            )
    return warnings
