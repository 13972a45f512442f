"""Similarity and overlap metrics (names as in CONVENTIONS.md) of a fixed and a warped image on ONE grid.

The caller has resampled onto the fixed grid, so these take numpy arrays (z, y, x) / (y, x), not
Images; where distances matter they take ``spacing_zyx``: mm per ARRAY axis, numpy order
(``geometry.spacing[::-1]``; distances assume an orthonormal direction, as scanners give).
A ``mask`` (bool, same shape) restricts a metric to its True voxels: values outside never change
the result (LNCC and SSIM included, see their docstrings). Results are plain Python floats (or
dicts / arrays of them) for JSON; undefined values are NaN, unbounded ones inf, and
``finite_mean`` averages what is finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from regviewer.core.errors import InputMismatchError, InvalidImageError

IMAGE_METRIC_KEYS = ("mse", "mae", "rmse", "ncc", "mi", "nmi", "ssim")
_BINCOUNT_MAX_LABEL = 1 << 20  # above this, count labels with np.unique instead of np.bincount


# ---- input checks ----------------------------------------------------------------------------
def _checked(
    fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    fixed, warped = np.asarray(fixed), np.asarray(warped)
    if fixed.shape != warped.shape:
        raise InputMismatchError(f"fixed {fixed.shape} and warped {warped.shape} differ: resample onto the fixed grid")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != fixed.shape:
            raise InputMismatchError(f"mask {mask.shape} does not match the images {fixed.shape}")
        if not mask.any():
            raise InputMismatchError("the mask selects no voxels")
    return fixed, warped, mask


def _values(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The compared voxel values as two flat float64 vectors (only those inside the mask)."""
    fixed, warped, mask = _checked(fixed, warped, mask)
    if mask is None:
        return fixed.astype(np.float64).ravel(), warped.astype(np.float64).ravel()
    return fixed[mask].astype(np.float64), warped[mask].astype(np.float64)


# ---- intensity metrics -----------------------------------------------------------------------
def mse(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared intensity difference."""
    a, b = _values(fixed, warped, mask)
    return float(np.mean(np.square(a - b)))


def mae(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute intensity difference."""
    a, b = _values(fixed, warped, mask)
    return float(np.mean(np.abs(a - b)))


def rmse(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean squared intensity difference (same unit as the intensities)."""
    return math.sqrt(mse(fixed, warped, mask))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # undefined for a constant image; 0 = "no linear relation"
    a, b = a - a.mean(), b - b.mean()
    return float(np.clip(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)), -1.0, 1.0))


def ncc(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Global normalised cross-correlation (Pearson r) in [-1, 1]; 0.0 when either image is constant."""
    return _pearson(*_values(fixed, warped, mask))


def lncc(
    fixed: np.ndarray, warped: np.ndarray, radius: int | Sequence[int] = 2, mask: np.ndarray | None = None
) -> float:
    """Local NCC: Pearson r in a (2 * radius + 1)-voxel box around every voxel, averaged.

    ``radius`` is in voxels (one value or one per array axis). Window statistics are weighted by the
    mask (normalised convolution with ``uniform_filter``), so voxels outside the mask or the image
    never enter a window. Windows flat in both images carry no information and are skipped; one
    flat in only one image scores 0. Returns a value in [-1, 1]; 0.0 when every window is flat.
    """
    fixed, warped, mask = _checked(fixed, warped, mask)
    size = 2 * np.broadcast_to(np.asarray(radius, dtype=int), (fixed.ndim,)) + 1
    weight = np.ones(fixed.shape) if mask is None else mask.astype(np.float64)
    inside = weight > 0
    a = np.where(inside, fixed, 0).astype(np.float64)
    b = np.where(inside, warped, 0).astype(np.float64)
    a -= a[inside].mean()  # centring reduces cancellation in E[a^2] - E[a]^2
    b -= b[inside].mean()
    a *= weight
    b *= weight

    def local_mean(x: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(x, size=size, mode="constant")

    weight_sum = np.maximum(local_mean(weight), 1e-12)
    mean_a, mean_b = local_mean(a) / weight_sum, local_mean(b) / weight_sum
    var_a = local_mean(a * a) / weight_sum - mean_a**2
    var_b = local_mean(b * b) / weight_sum - mean_b**2
    cov = local_mean(a * b) / weight_sum - mean_a * mean_b
    flat_a = var_a <= 1e-8 * max(float(np.var(a[inside])), 1e-300)
    flat_b = var_b <= 1e-8 * max(float(np.var(b[inside])), 1e-300)
    informative = inside & ~(flat_a & flat_b)
    if not informative.any():
        return 0.0
    both = ~(flat_a | flat_b)
    local = np.zeros(fixed.shape)
    local[both] = cov[both] / np.sqrt(var_a[both] * var_b[both])
    return float(np.clip(local[informative], -1.0, 1.0).mean())


def _robust_range(values: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:  # sparse images (mostly one value): fall back to the full range
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return low, high


def _bin_indices(values: np.ndarray, bins: int) -> np.ndarray:
    low, high = _robust_range(values)
    index = np.floor((values - low) * (bins / (high - low)))
    return np.clip(index, 0, bins - 1).astype(np.int64)  # out-of-range values go to the end bins


def _entropies(a: np.ndarray, b: np.ndarray, bins: int) -> tuple[float, float, float]:
    """Marginal and joint Shannon entropies (nats) of the binned intensities."""
    if bins < 2:
        raise ValueError(f"need at least 2 histogram bins, got {bins}")
    joint = np.bincount(_bin_indices(a, bins) * bins + _bin_indices(b, bins), minlength=bins * bins)
    joint = joint.reshape(bins, bins) / a.size

    def entropy(p: np.ndarray) -> float:
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))

    return entropy(joint.sum(axis=1)), entropy(joint.sum(axis=0)), entropy(joint)


def mutual_information(fixed: np.ndarray, warped: np.ndarray, bins: int = 32, mask: np.ndarray | None = None) -> float:
    """Mutual information (nats) from a ``bins x bins`` joint histogram, Mattes-style.

    Each image is binned over its robust range (0.5th..99.5th percentile, values beyond go to the
    end bins). No Parzen smoothing: this is a score to report, not a cost to differentiate.
    """
    h_a, h_b, h_ab = _entropies(*_values(fixed, warped, mask), bins)
    return max(h_a + h_b - h_ab, 0.0)


def nmi(fixed: np.ndarray, warped: np.ndarray, bins: int = 32, mask: np.ndarray | None = None) -> float:
    """Normalised mutual information (H(a) + H(b)) / H(a, b), in [1, 2]; 2 for identical images.

    Binned like ``mutual_information``; 1.0 when the joint entropy is 0 (both images constant).
    """
    h_a, h_b, h_ab = _entropies(*_values(fixed, warped, mask), bins)
    return (h_a + h_b) / h_ab if h_ab > 0 else 1.0


def ssim(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (``skimage.metrics.structural_similarity``), 2D or 3D.

    ``data_range`` is the fixed image's range (inside the mask when given). Singleton axes are
    dropped and the 7-voxel window shrinks for thin images. Without a mask the result equals
    skimage's mean SSIM (map cropped by the half window). With a mask it is the mean of the same
    cropped map inside the mask, computed after filling outside voxels of each image with that
    image's mean inside the mask, so outside values cannot leak into border windows.
    """
    fixed, warped, mask = _checked(fixed, warped, mask)
    keep = tuple(n for n in fixed.shape if n > 1) or (1,)
    # float32 halves the time of skimage's filtering on volumes; SSIM needs no more precision
    a, b = fixed.astype(np.float32).reshape(keep), warped.astype(np.float32).reshape(keep)
    if mask is not None:
        mask = mask.reshape(keep)
        a = np.where(mask, a, a[mask].mean())
        b = np.where(mask, b, b[mask].mean())
    win_size = min(7, min(keep) - (1 - min(keep) % 2))  # largest odd size <= 7 that fits
    if win_size < 3:
        raise InputMismatchError(f"image {fixed.shape} is too thin for SSIM (needs 3 voxels along each axis)")
    data_range = float(np.ptp(a if mask is None else a[mask])) or 1.0
    _, ssim_map = structural_similarity(a, b, win_size=win_size, data_range=data_range, full=True)
    pad = (win_size - 1) // 2
    region = np.zeros(keep, dtype=bool)
    region[tuple(slice(pad, n - pad) for n in keep)] = True
    if mask is not None:
        region = region & mask if (region & mask).any() else mask
    return float(ssim_map[region].mean(dtype=np.float64))


def image_metrics(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """``{"mse", "mae", "rmse", "ncc", "mi", "nmi", "ssim"}`` at once (the CLI's metrics.json; MI in nats, 32 bins)."""
    a, b = _values(fixed, warped, mask)
    difference = a - b
    mean_squared = float(np.mean(np.square(difference)))
    h_a, h_b, h_ab = _entropies(a, b, 32)
    return {
        "mse": mean_squared,
        "mae": float(np.mean(np.abs(difference))),
        "rmse": math.sqrt(mean_squared),
        "ncc": _pearson(a, b),
        "mi": max(h_a + h_b - h_ab, 0.0),
        "nmi": (h_a + h_b) / h_ab if h_ab > 0 else 1.0,
        "ssim": ssim(fixed, warped, mask),
    }


# ---- label metrics ---------------------------------------------------------------------------
def _label_array(labels: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.dtype.kind in "iu":
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    rounded = np.rint(array)
    if not np.array_equal(rounded, array):
        raise InvalidImageError(f"{what} holds non-integer values: a label map must hold whole numbers")
    return rounded.astype(np.int64)


def _label_pair(fixed_labels: np.ndarray, warped_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fixed = _label_array(fixed_labels, "fixed labels")
    warped = fixed if warped_labels is fixed_labels else _label_array(warped_labels, "warped labels")
    if fixed.shape != warped.shape:
        raise InputMismatchError(f"label maps differ in shape: fixed {fixed.shape}, warped {warped.shape}")
    return fixed, warped


def _label_counts(labels: np.ndarray) -> dict[int, int]:
    """Voxel count of every label present."""
    if labels.size == 0:
        return {}
    low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high <= _BINCOUNT_MAX_LABEL:
        counts = np.bincount(labels.ravel(), minlength=high + 1)
        return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def _default_labels(fixed: np.ndarray, labels: Iterable[int] | None) -> list[int]:
    if labels is not None:
        return [int(v) for v in labels]
    return [v for v in _label_counts(fixed) if v != 0]


def dice_per_label(
    fixed_labels: np.ndarray, warped_labels: np.ndarray, labels: Iterable[int] | None = None
) -> dict[int, float]:
    """Dice overlap 2|A & B| / (|A| + |B|) of every label (maps of whole numbers, any dtype).

    ``labels`` defaults to the non-zero labels present in the FIXED map. Returns ``{label: dice}``:
    0.0 for a label absent from the warped map, NaN for one absent from both.
    """
    fixed, warped = _label_pair(fixed_labels, warped_labels)
    wanted = _default_labels(fixed, labels)
    fixed_counts, warped_counts = _label_counts(fixed), _label_counts(warped)
    overlap = _label_counts(fixed[fixed == warped])
    result: dict[int, float] = {}
    for label in wanted:
        total = fixed_counts.get(label, 0) + warped_counts.get(label, 0)
        result[label] = 2.0 * overlap.get(label, 0) / total if total else math.nan
    return result


def _bounding_boxes(labels: np.ndarray, wanted: list[int]) -> dict[int, tuple[slice, ...] | None]:
    boxes: dict[int, tuple[slice, ...] | None] = {}
    positive = [v for v in wanted if v > 0]
    if positive and int(labels.min()) >= 0 and max(positive) <= _BINCOUNT_MAX_LABEL:
        found = ndimage.find_objects(labels, max_label=max(positive))
        boxes.update({v: found[v - 1] for v in positive})
    for label in wanted:
        if label not in boxes:  # zero / negative / huge labels: the slow way
            where = np.nonzero(labels == label)
            boxes[label] = tuple(slice(int(i.min()), int(i.max()) + 1) for i in where) if where[0].size else None
    return boxes


def _surface(region: np.ndarray) -> np.ndarray:
    """Voxels of ``region`` with a face neighbour outside it (or on the array border)."""
    structure = ndimage.generate_binary_structure(region.ndim, 1)
    return region & ~ndimage.binary_erosion(region, structure=structure, border_value=0)


def _hausdorff_percentile(a: np.ndarray, b: np.ndarray, spacing_zyx: np.ndarray, percentile: float) -> float:
    surface_a, surface_b = _surface(a), _surface(b)
    a_to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing_zyx)[surface_a]
    b_to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing_zyx)[surface_b]
    return float(max(np.percentile(a_to_b, percentile), np.percentile(b_to_a, percentile)))


def hd95_per_label(
    fixed_labels: np.ndarray,
    warped_labels: np.ndarray,
    spacing_zyx: Sequence[float],
    labels: Iterable[int] | None = None,
    percentile: float = 95.0,
) -> dict[int, float]:
    """Robust symmetric Hausdorff distance (95th percentile by default) of every label, in mm.

    Surfaces are label voxels with a face neighbour outside the label. The 95th percentile of the
    distances from the fixed surface to the warped surface, and back, is taken; the larger is
    reported (as in DeepMind's surface-distance package used by Learn2Reg); ``percentile=100``
    gives the classic Hausdorff distance. Distance transforms (``distance_transform_edt`` with
    ``sampling=spacing_zyx``) run on each label's bounding box (both maps, plus one voxel): exact.
    ``labels`` defaults to the non-zero labels of the FIXED map. Returns ``{label: mm}``: inf for
    a label empty in exactly one map, NaN for one empty in both; average it with ``finite_mean``.
    """
    fixed, warped = _label_pair(fixed_labels, warped_labels)
    spacing = np.asarray(spacing_zyx, dtype=np.float64).reshape(-1)
    if spacing.size != fixed.ndim or np.any(spacing <= 0):
        raise InputMismatchError(f"spacing_zyx {tuple(spacing)} does not fit {fixed.ndim}D label maps")
    wanted = _default_labels(fixed, labels)
    boxes_fixed, boxes_warped = _bounding_boxes(fixed, wanted), _bounding_boxes(warped, wanted)
    result: dict[int, float] = {}
    for label in wanted:
        box_f, box_w = boxes_fixed[label], boxes_warped[label]
        if box_f is None or box_w is None:
            result[label] = math.nan if box_f is None and box_w is None else math.inf
            continue
        box = tuple(
            slice(max(min(f.start, w.start) - 1, 0), min(max(f.stop, w.stop) + 1, n))
            for f, w, n in zip(box_f, box_w, fixed.shape)
        )
        result[label] = _hausdorff_percentile(fixed[box] == label, warped[box] == label, spacing, percentile)
    return result


def finite_mean(values: Iterable[float] | Mapping[object, float]) -> float:
    """Mean of the finite values (NaN / inf skipped, e.g. HD95 of missing labels); NaN if none."""
    if isinstance(values, Mapping):
        values = values.values()
    finite = [float(v) for v in values if math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


def label_metrics(
    fixed_labels: np.ndarray,
    warped_labels: np.ndarray,
    spacing_zyx: Sequence[float],
    labels: Iterable[int] | None = None,
) -> dict:
    """``{"dice": {str(label): v}, "dice_mean", "hd95_mm": {str(label): mm}, "hd95_mean_mm"}`` (metrics.json).

    Means skip non-finite values (``finite_mean``): a label missing from the warped map counts as
    Dice 0 but is left out of the HD95 mean (its HD95 is inf, shown per label).
    """
    fixed, warped = _label_pair(fixed_labels, warped_labels)
    wanted = _default_labels(fixed, labels)
    dice = dice_per_label(fixed, warped, wanted)
    hd95 = hd95_per_label(fixed, warped, spacing_zyx, wanted)
    return {
        "dice": {str(k): v for k, v in dice.items()},
        "dice_mean": finite_mean(dice),
        "hd95_mm": {str(k): v for k, v in hd95.items()},
        "hd95_mean_mm": finite_mean(hd95),
    }


# ---- landmarks -------------------------------------------------------------------------------
def tre(
    fixed_points_mm: np.ndarray, moving_points_mm_carried: np.ndarray, active: Sequence[bool] | None = None
) -> np.ndarray:
    """Target registration error of every landmark pair: (n,) distances in mm.

    ``fixed_points_mm`` and ``moving_points_mm_carried`` are (n, ndim) LPS mm, the moving points
    carried into fixed space by the moving -> fixed (points) transform. A pair with a missing (NaN)
    point, or flagged inactive in ``active``, gets NaN.
    """
    fixed = np.atleast_2d(np.asarray(fixed_points_mm, dtype=np.float64))
    moving = np.atleast_2d(np.asarray(moving_points_mm_carried, dtype=np.float64))
    if fixed.shape != moving.shape:
        raise InputMismatchError(f"{fixed.shape[0]} fixed points ({fixed.shape}) vs moving points {moving.shape}")
    distances = np.linalg.norm(fixed - moving, axis=1)
    if active is not None:
        active = np.asarray(active, dtype=bool).reshape(-1)
        if active.size != distances.size:
            raise InputMismatchError(f"{active.size} active flags for {distances.size} landmark pairs")
        distances[~active] = np.nan
    return distances


def tre_summary(distances_mm: Iterable[float]) -> dict[str, float]:
    """``{"tre_mean_mm", "tre_median_mm", "tre_std_mm", "tre_max_mm", "tre_count"}`` over finite values."""
    finite = np.asarray([d for d in distances_mm if math.isfinite(d)], dtype=np.float64)
    stats = (finite.mean(), np.median(finite), finite.std(), finite.max()) if finite.size else (math.nan,) * 4
    keys = ("tre_mean_mm", "tre_median_mm", "tre_std_mm", "tre_max_mm")
    return {**{key: float(value) for key, value in zip(keys, stats)}, "tre_count": float(finite.size)}
