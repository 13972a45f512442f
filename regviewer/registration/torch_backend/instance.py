"""Instance optimisation: an affine, then a dense (diffeomorphic or plain) field, coarse to fine, in torch.

The map being optimised, from fixed to moving mm:  ``x -> initial(A(x + u(x)))``

- ``u``: a dense field on a grid covering the fixed image, stored in mm along the fixed array axes
  (so the learning rate and the regulariser mean the same thing at every level); with
  ``transform="svf"`` the parameter is a stationary velocity and ``u = exp(v)`` (scaling and
  squaring), which cannot fold for smooth v.
- ``A``: an affine in mm about the fixed centre, optimised first (coarse levels, u = 0), then frozen.
- ``initial``: the request's initial transform, linear (folded into one matrix) or, when not linear,
  applied once by resampling the moving image onto the fixed grid before optimising.

Every level samples the moving image (smoothed and shrunk to about the level's resolution) at
``K (p + u(p))``, ``p`` the level's normalised fixed coordinates and ``K`` one homogeneous matrix:
one ``grid_sample`` per iteration, no numpy round trip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from regviewer.core.image import Geometry
from regviewer.core.transforms import AffineTransform, CompositeTransform, Transform
from regviewer.registration.torch_backend import cubic, frames, ops, sampled
from regviewer.registration.torch_backend.adam import Adam
from regviewer.registration.torch_backend.dense_level import DenseLevel

Tensor = torch.Tensor
DICE_TOLERANCE = 0.005  # a later stage whose mean label Dice is within this of the best is preferred
STRETCH_LIMIT = 2.0  # without labels, a field compressing or stretching more than this (det J) ...
STRETCH_SHARE = 0.05  # ... over more than this share of its grid is called suspicious (said in a warning)
FIELD_MIN_VOXELS = 8  # the dense field's grid keeps at least this many points along an axis (or the axis's size)


@dataclass(frozen=True)
class Settings:
    """What to optimise and how (see ``torch_opt.TorchDeformableMethod.parameters`` for meanings)."""

    similarity: str = "lncc"
    transform: str = "svf"
    regulariser: str = "diffusion"
    regularisation_weight: float = 1.0
    shrink_factors: tuple[int, ...] = (4, 2)
    iterations: tuple[int, ...] = (100, 30)
    field_shrink: int = 4
    learning_rate: float = 0.2
    affine: bool = True
    affine_shrink_factors: tuple[int, ...] = (4,)
    affine_iterations: int = 60
    lncc_window: int = 5
    integration_steps: int = 7
    label_weight: float = 0.0
    landmark_weight: float = 0.0
    preview_every: int = 10
    min_level_voxels: int = 24  # no pyramid level has fewer voxels along an axis (or the axis's own size)
    sampled_iterations: int = 0  # full-resolution refinement on random patches after the dense levels (sampled.py)
    samples: int = 2048
    patch_stride: int = 1  # voxels between the points of a sampled-level patch (sampled.patch_offsets)
    sampled_learning_rate: float = 0.05
    field_interpolation: str = "linear"  # how the field grid is read between its nodes: "linear" or "cubic" (cubic.py)


@dataclass
class Problem:
    """The tensors and frames of one run (built by ``torch_opt``; all tensors on one device)."""

    fixed: Tensor  # [1, 1, *S_fixed], intensities about 0..1
    moving: Tensor  # [1, 1, *S_moving]
    fixed_geometry: Geometry
    moving_geometry: Geometry
    initial_matrix: np.ndarray  # homogeneous mm -> mm, applied after A (identity when none)
    fixed_mask: Tensor | None = None
    fixed_labels: Tensor | None = None  # [1, 1, *S_fixed] integer labels
    moving_labels: Tensor | None = None
    label_values: tuple[int, ...] = ()
    fixed_points: np.ndarray | None = None  # (N, ndim) mm
    moving_points: np.ndarray | None = None


@dataclass
class State:
    """Where the optimisation stands (kept current so that a cancel can return it)."""

    affine: AffineTransform
    field_mm: Tensor | None = None  # [1, ndim, *S_field] displacement in mm along array axes
    history: list[tuple[str, int, int, float]] = field(default_factory=list)
    cancelled: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what went wrong and what was kept instead
    values: dict[str, float] = field(default_factory=dict)  # similarity of start / affine / final at the finest level
    dice: dict[str, float] = field(default_factory=dict)  # mean label Dice of start / affine / final (labels given)
    stretched: float | None = None  # share of the kept field's grid with det J outside 1/2..2 (no labels)


Report = Callable[[str, int, int, int, float | None, Callable[[], Transform] | None], None]


class InstanceOptimiser:
    """Runs the affine stage then the dense levels; ``report`` receives (stage, level, levels, it, loss, preview)."""

    def __init__(self, problem: Problem, settings: Settings, report: Report, cancelled: Callable[[], bool]) -> None:
        self.problem = problem
        self.settings = settings
        self.report = report
        self.cancelled = cancelled
        self.ndim = problem.fixed_geometry.ndim
        self.device = problem.fixed.device
        self.dtype = ops.matrix_dtype(self.device)  # of coordinate matrices: float64, float32 on MPS
        self.to_moving_normalised = frames.mm_to_normalised(problem.moving_geometry) @ problem.initial_matrix
        geometry = problem.fixed_geometry
        self.centre = geometry.index_to_physical((np.array(geometry.size) - 1) / 2.0)
        low, high = geometry.bounds_mm()
        self.radius = max(1.0, float(np.max(high - low)) / 2.0)
        self.state = State(affine=AffineTransform.identity(self.ndim))
        self._levels: dict[int, tuple[Tensor, Tensor, Tensor | None]] = {}
        self._fixed_pyramid: dict[float, Tensor] = {1.0: problem.fixed}
        self._moving_pyramid: dict[float, Tensor] = {1.0: problem.moving}
        self.fixed_spacing = frames.voxel_spacing_zyx(problem.fixed_geometry)
        self.moving_spacing = frames.voxel_spacing_zyx(problem.moving_geometry)

    # ---- frames ---------------------------------------------------------------------------------
    def _affine_matrix(self, weights: Tensor, shift: Tensor) -> Tensor:
        """Homogeneous mm matrix of ``x -> (I + W)(x - c) + R t + c`` (differentiable in W, t)."""
        eye = torch.eye(self.ndim, dtype=self.dtype, device=self.device)
        centre = torch.tensor(self.centre, dtype=self.dtype, device=self.device)
        linear = eye + weights
        top = torch.cat([linear, (centre - linear @ centre + self.radius * shift)[:, None]], dim=1)
        bottom = torch.zeros(1, self.ndim + 1, dtype=self.dtype, device=self.device)
        bottom[0, -1] = 1.0
        return torch.cat([top, bottom], dim=0)

    def _fixed_to_moving(self, affine_mm: Tensor) -> Tensor:
        """Normalised fixed -> normalised moving coordinates (homogeneous, ``self.dtype``)."""
        before = torch.tensor(self.to_moving_normalised, dtype=self.dtype, device=self.device)
        after = torch.tensor(frames.normalised_to_mm(self.problem.fixed_geometry), dtype=self.dtype, device=self.device)
        return before @ affine_mm @ after

    def _current_affine_tensor(self) -> Tensor:
        return torch.tensor(self.state.affine.homogeneous, dtype=self.dtype, device=self.device)

    # ---- pyramid --------------------------------------------------------------------------------
    def level_factors(self, shrink: float) -> tuple[float, ...]:
        """Per-axis shrink factors of the fixed image at a level (see ``ops.axis_shrinks``)."""
        return ops.axis_shrinks(
            self.problem.fixed.shape[2:], self.fixed_spacing, shrink, self.settings.min_level_voxels
        )

    def level_shape(self, shrink: float) -> tuple[int, ...]:
        return ops.level_shape_axes(self.problem.fixed.shape[2:], self.level_factors(shrink))

    def field_shape(self, shrink: float) -> tuple[int, ...]:
        """The dense field's grid at a level: ``field_shrink`` coarser than the fixed image but never finer
        than the level's images; small axes keep at least ``FIELD_MIN_VOXELS`` (the field is smooth, so a
        coarse grid on a small image is a regulariser, not a loss of detail)."""
        shape = self.problem.fixed.shape[2:]
        factors = ops.axis_shrinks(shape, self.fixed_spacing, max(shrink, self.settings.field_shrink), FIELD_MIN_VOXELS)
        return ops.level_shape_axes(shape, [max(f, g) for f, g in zip(factors, self.level_factors(shrink))])

    def _level_images(self, shrink: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Fixed, moving and fixed mask about ``shrink`` times coarser than the fixed image (cached).

        Factors are per axis (thin or small axes are shrunk less); the moving image is smoothed to
        about the level's finest voxel size.
        """
        if shrink not in self._levels:
            problem = self.problem
            factors = self.level_factors(shrink)
            fixed = _pyramid_level_axes(self._fixed_pyramid, factors)
            level_mm = float(min(self.fixed_spacing * np.array(factors)))
            moving_shrink = max(1.0, level_mm / float(min(self.moving_spacing)))
            moving_factors = ops.axis_shrinks(
                problem.moving.shape[2:], self.moving_spacing, moving_shrink, self.settings.min_level_voxels
            )
            moving = _pyramid_level_axes(self._moving_pyramid, moving_factors)
            mask = (
                None
                if problem.fixed_mask is None
                else ops.resize(problem.fixed_mask.float(), fixed.shape[2:], "nearest")
            )
            self._levels[shrink] = (fixed, moving, mask)
        return self._levels[shrink]

    def _similarity(
        self, fixed: Tensor, warped: Tensor, mask: Tensor | None, statistics: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        if self.settings.similarity == "mse":
            return ops.mse_loss(fixed, warped, mask)
        if self.settings.similarity == "nmi":
            return ops.nmi_loss(fixed.clamp(0, 1), warped.clamp(0, 1), mask=mask)
        return ops.lncc_loss(fixed, warped, self.settings.lncc_window, mask, a_statistics=statistics)

    def _statistics(self, fixed: Tensor) -> tuple[Tensor, Tensor] | None:
        """The fixed image's LNCC statistics of a level (computed once per level)."""
        return ops.lncc_statistics(fixed, self.settings.lncc_window) if self.settings.similarity == "lncc" else None

    # ---- affine stage ---------------------------------------------------------------------------
    def run_affine(self) -> None:
        settings = self.settings
        weights = torch.zeros(self.ndim, self.ndim, dtype=self.dtype, device=self.device, requires_grad=True)
        start = self._start_shift()
        shift = torch.tensor(start, dtype=self.dtype, device=self.device, requires_grad=True)
        optimiser = Adam([weights, shift], lr=0.01)
        levels = settings.affine_shrink_factors
        for level, shrink in enumerate(levels):
            best_value, best = math.inf, None  # the best iterate of this level (values of levels differ)
            fixed, moving, mask = self._level_images(shrink)
            statistics = self._statistics(fixed)
            identity = ops.identity_grid(fixed.shape[2:], self.device, torch.float32)
            reverse = torch.eye(self.ndim, device=self.device).flip(0)  # array-axis order -> (x, y, z)
            for iteration in range(settings.affine_iterations):
                if self.cancelled():
                    self.state.cancelled = True
                    return
                optimiser.zero_grad(set_to_none=True)
                matrix = self._fixed_to_moving(self._affine_matrix(weights, shift)).float()
                linear, offset = reverse @ matrix[: self.ndim, : self.ndim], reverse @ matrix[: self.ndim, self.ndim]
                grid_xyz = identity @ linear.T + offset
                loss = self._similarity(fixed, ops.sample_xyz(moving, grid_xyz), mask, statistics)
                loss.backward()
                value = float(loss.detach())
                if value < best_value:
                    best_value, best = value, (weights.detach().clone(), shift.detach().clone())
                optimiser.step()
                self.state.history.append(("affine", level, iteration, value))
                with torch.no_grad():
                    self.state.affine = AffineTransform.from_homogeneous(
                        self._affine_matrix(weights, shift).cpu().numpy()
                    )
                preview = (
                    self.current_transform if iteration % settings.preview_every == settings.preview_every - 1 else None
                )
                self.report("affine", level, len(levels), iteration, value, preview)
            if best is not None:
                with torch.no_grad():
                    weights.copy_(best[0])
                    shift.copy_(best[1])
                    self.state.affine = AffineTransform.from_homogeneous(
                        self._affine_matrix(weights, shift).cpu().numpy()
                    )
        self._reject_diverged_affine()

    def start_affine(self) -> AffineTransform:
        """Where the affine stage starts: identity, with the image centres aligned when there is no initial transform."""
        zero = torch.zeros(self.ndim, self.ndim, dtype=self.dtype, device=self.device)
        shift = torch.tensor(self._start_shift(), dtype=self.dtype, device=self.device)
        return AffineTransform.from_homogeneous(self._affine_matrix(zero, shift).cpu().numpy())

    def _reject_diverged_affine(self) -> None:
        """Fall back to the start when the fitted affine mirrors, collapses or scales implausibly (as the SimpleITK chain does)."""
        from regviewer.registration.classic import linear_problem

        problem = linear_problem(self.state.affine.matrix)
        if problem:
            self.state.affine = self.start_affine()
            self.state.warnings.append(f"the affine stage diverged ({problem}); kept its starting transform")

    def _start_shift(self) -> np.ndarray:
        """Translation (in units of R) that aligns the image centres when no initial transform was given."""
        if not np.allclose(self.problem.initial_matrix, np.eye(self.ndim + 1)):
            return np.zeros(self.ndim)
        moving = self.problem.moving_geometry
        moving_centre = moving.index_to_physical((np.array(moving.size) - 1) / 2.0)
        return (moving_centre - self.centre) / self.radius

    # ---- dense levels ---------------------------------------------------------------------------
    def run_dense(self) -> None:
        settings = self.settings
        matrix = self._fixed_to_moving(self._current_affine_tensor()).float()
        parameter: Tensor | None = None
        levels = settings.shrink_factors
        for level, shrink in enumerate(levels):
            dense = DenseLevel(self, shrink, matrix)
            if parameter is None:
                parameter = torch.zeros(1, self.ndim, *dense.field_shape, device=self.device)
            elif tuple(parameter.shape[2:]) != dense.field_shape:
                parameter = ops.resize(parameter.detach(), dense.field_shape)  # mm values: unchanged by resizing
            parameter = parameter.detach().requires_grad_(True)
            optimiser = Adam([parameter], lr=settings.learning_rate)
            budget = settings.iterations[level]
            for iteration in range(budget):
                if self.cancelled():
                    self.state.cancelled = True
                    return
                optimiser.zero_grad(set_to_none=True)
                value = dense.loss_and_gradient(parameter)
                optimiser.step()
                self.state.history.append(("dense", level, iteration, value))
                preview = None
                if iteration % settings.preview_every == settings.preview_every - 1 or iteration == budget - 1:
                    self.state.field_mm = dense.displacement_mm(parameter.detach())
                    preview = self.current_transform
                self.report("dense", level, len(levels), iteration, value, preview)
            self.state.field_mm = dense.displacement_mm(parameter.detach())
        # the sampled level adds full resolution; a last dense level that ran there already saw every voxel
        # (small or coarse volumes, e.g. the prostate cohort's, whose levels stay whole)
        full = (
            bool(levels)
            and settings.iterations[len(levels) - 1] > 0
            and self.level_shape(levels[-1]) == tuple(self.problem.fixed.shape[2:])
        )
        if parameter is not None and not full and sampled.usable(settings, self.problem):
            sampled.run_sampled(self, parameter, tuple(parameter.shape[2:]), matrix)

    def _level_labels(
        self, fixed_shape: tuple[int, ...], moving_shape: tuple[int, ...]
    ) -> tuple[Tensor, Tensor] | None:
        problem = self.problem
        if problem.fixed_labels is None or problem.moving_labels is None or not problem.label_values:
            return None

        values = torch.tensor(problem.label_values, device=problem.fixed_labels.device)
        return (
            ops.label_fractions(problem.fixed_labels, values, fixed_shape),
            ops.label_fractions(problem.moving_labels, values, moving_shape),
        )

    def _level_points(self) -> tuple[Tensor, Tensor, Tensor] | None:
        problem = self.problem
        if problem.fixed_points is None or problem.moving_points is None or len(problem.fixed_points) == 0:
            return None
        fixed = torch.tensor(
            frames.points_to_normalised(problem.fixed_points, problem.fixed_geometry),
            dtype=torch.float32,
            device=self.device,
        )
        moving_mm = torch.tensor(problem.moving_points, dtype=self.dtype, device=self.device)
        to_mm = torch.tensor(frames.normalised_to_mm(problem.moving_geometry), dtype=self.dtype, device=self.device)
        return fixed, moving_mm, to_mm

    def _landmark_loss(self, field_normalised: Tensor, matrix: Tensor, points: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """Mean squared distance (mm^2) between moved fixed landmarks and their moving partners."""
        fixed, moving_mm, to_mm = points
        shift = cubic.read(field_normalised, fixed, self.settings.field_interpolation).T
        moved = (fixed + shift).to(self.dtype) @ matrix[: self.ndim, : self.ndim].T.to(self.dtype) + matrix[
            : self.ndim, self.ndim
        ].to(self.dtype)
        homogeneous = torch.cat([moved, torch.ones(len(moved), 1, dtype=self.dtype, device=self.device)], dim=1)
        moved_mm = (homogeneous @ to_mm.T)[:, : self.ndim]
        return ((moved_mm - moving_mm) ** 2).sum(dim=1).mean().float()

    # ---- results --------------------------------------------------------------------------------
    def current_transform(self, full_resolution: bool = False) -> Transform:
        """``x -> A(x + u(x))`` (without the request's initial transform) in mm; u on its own grid or the fixed grid."""
        if self.state.field_mm is None:
            return self.state.affine
        geometry = self.problem.fixed_geometry
        field_mm = self.state.field_mm.detach()
        if full_resolution:
            field_mm = cubic.expand(field_mm, geometry.shape, self.settings.field_interpolation)
        else:  # the field at its nodes (a B-spline's values there are not its control points)
            field_mm = cubic.expand(field_mm, field_mm.shape[2:], self.settings.field_interpolation)
            geometry = frames.level_geometry(geometry, field_mm.shape[2:])
        dense = field_to_transform(field_mm, geometry)
        return CompositeTransform([dense, self.state.affine])

    def run(self) -> State:
        started = time.perf_counter()
        affine_stage = self.settings.affine and self.settings.affine_iterations > 0
        start = self.start_affine() if affine_stage else self.state.affine  # what the run starts from
        if affine_stage:
            self.run_affine()
        self.state.seconds["affine"] = time.perf_counter() - started
        affine_only = self.state.affine
        if not self.state.cancelled and len(self.settings.shrink_factors) > 0:
            self.run_dense()
        self.state.seconds["dense"] = time.perf_counter() - started - self.state.seconds["affine"]
        if not self.state.cancelled:
            self._keep_the_best(start, affine_only)
            self._check_geometry()
        return self.state

    @torch.no_grad()
    def _check_geometry(self) -> None:
        """Without label maps only the similarity vouches for the result: say so when the kept field
        compresses or stretches much of the image more than ``STRETCH_LIMIT``-fold (a wrong similarity for
        the pair, e.g. LNCC on MR -> ultrasound, improves by distorting anatomy)."""
        if self.state.dice:
            return
        from regviewer.registration.classic import implausible_scaling

        if caution := implausible_scaling(self.state.affine.matrix):
            self.state.warnings.append(
                f"the similarity improved, but the affine stage {caution}: check the result; with label maps "
                "loaded and used, their Dice decides what is kept"
            )
        field_mm = self.state.field_mm
        if field_mm is None:
            return
        field_mm = cubic.expand(field_mm, field_mm.shape[2:], self.settings.field_interpolation)  # values at the nodes
        spacing = frames.voxel_spacing_zyx(frames.level_geometry(self.problem.fixed_geometry, field_mm.shape[2:]))
        view = (1, -1) + (1,) * self.ndim
        voxels = field_mm.float() / torch.tensor(spacing, dtype=torch.float32, device=field_mm.device).view(view)
        determinant = ops.jacobian_determinant_torch(voxels)
        share = float(((determinant < 1.0 / STRETCH_LIMIT) | (determinant > STRETCH_LIMIT)).float().mean())
        self.state.stretched = share
        if share > STRETCH_SHARE:
            self.state.warnings.append(
                f"the similarity improved, but the field compresses or stretches {100 * share:.0f} % of the image more "
                f"than {STRETCH_LIMIT:g}-fold (Jacobian {float(determinant.min()):.2f} to {float(determinant.max()):.2f}): "
                "check the result; with label maps loaded and used, their Dice decides what is kept"
            )

    @torch.no_grad()
    def similarity_of(self, affine: AffineTransform, field_mm: Tensor | None, shrink: int) -> float:
        """The data terms (lower is better) of ``x -> A(x + u(x))`` at the pyramid level ``shrink``.

        The image similarity plus, when they are on, the weighted label (Dice) and landmark terms:
        what the dense stage optimises, without its regulariser.
        """
        fixed, moving, mask = self._level_images(shrink)
        matrix, field_normalised, grid = self._grid_of(affine, field_mm, tuple(fixed.shape[2:]))
        value = self._similarity(fixed, ops.sample_xyz(moving, grid), mask, self._statistics(fixed))
        settings = self.settings
        labels = (
            self._level_labels(tuple(fixed.shape[2:]), tuple(moving.shape[2:])) if settings.label_weight > 0 else None
        )
        if labels is not None:
            value = value + settings.label_weight * ops.dice_loss(labels[0], ops.sample_xyz(labels[1], grid))
        landmarks = self._level_points() if settings.landmark_weight > 0 else None
        if landmarks is not None:
            if field_normalised is None:
                field_normalised = torch.zeros(1, self.ndim, *([2] * self.ndim), device=self.device)
            value = value + settings.landmark_weight * self._landmark_loss(field_normalised, matrix, landmarks)
        return float(value)

    @torch.no_grad()
    def _grid_of(
        self, affine: AffineTransform, field_mm: Tensor | None, shape: tuple[int, ...]
    ) -> tuple[Tensor, Tensor | None, Tensor]:
        """(fixed -> moving normalised matrix, field in normalised units or None, sampling grid (x, y, z order) on ``shape``)."""
        matrix = self._fixed_to_moving(torch.tensor(affine.homogeneous, dtype=self.dtype, device=self.device)).float()
        reverse = torch.eye(self.ndim, device=self.device).flip(0)
        points = ops.identity_grid(shape, self.device, torch.float32)
        scale = torch.tensor(
            frames.mm_to_normalised_scale(self.problem.fixed_geometry), dtype=torch.float32, device=self.device
        )
        field_normalised = None
        if field_mm is not None:
            field_normalised = field_mm * scale.view(1, -1, *([1] * self.ndim))
            points = points + cubic.expand(field_normalised, shape, self.settings.field_interpolation).movedim(1, -1)
        grid = points @ (reverse @ matrix[: self.ndim, : self.ndim]).T + reverse @ matrix[: self.ndim, self.ndim]
        return matrix, field_normalised, grid

    @torch.no_grad()
    def label_dice_of(self, affine: AffineTransform, field_mm: Tensor | None) -> float | None:
        """Mean Dice of the given label maps under ``x -> A(x + u(x))`` (None without labels).

        Hard labels, nearest-neighbour sampling at the fixed voxels themselves (every ``stride``-th
        voxel along each axis, about a million points at most): what the user sees, and no one-hot
        copies. On a coarser grid of its own, whose points fall between voxels, nearest-neighbour
        sampling read a near-perfect result on sample3d as Dice 0.70 (0.95 on the voxels) and the
        check kept the affine.
        """
        problem = self.problem
        if problem.fixed_labels is None or problem.moving_labels is None or not problem.label_values:
            return None
        shape = tuple(problem.fixed_labels.shape[2:])
        stride = max(1, round((float(np.prod(shape)) / 1e6) ** (1.0 / self.ndim)))
        every = (slice(None, None, stride),) * self.ndim
        fixed = problem.fixed_labels[(slice(None), slice(None), *every)].long()
        grid = self._grid_of(affine, field_mm, shape)[2][(slice(None), *every)]
        warped = ops.sample_xyz(problem.moving_labels.float(), grid, mode="nearest").round().long()
        scores = []
        for value in problem.label_values:
            in_fixed, in_warped = fixed == value, warped == value
            total = int(in_fixed.sum()) + int(in_warped.sum())
            if total:
                scores.append(2.0 * int((in_fixed & in_warped).sum()) / total)
        return float(np.mean(scores)) if scores else None

    def _keep_the_best(self, start: AffineTransform, affine_only: AffineTransform) -> None:
        """Compare start, affine and final by the data terms at the finest level; keep the best and say so when it is not the final.

        Why: an optimiser can end worse than it started (a multi-modal pair under LNCC, a bad
        local minimum); the user must never get a silently worse result.
        """
        shrink = min(self.settings.shrink_factors or self.settings.affine_shrink_factors or (1,))
        final = (self.state.affine, self.state.field_mm)
        candidates = {"start": (start, None), "affine": (affine_only, None), "final": final}
        if self.state.field_mm is None:
            candidates.pop("affine")
        values = {name: self.similarity_of(affine, field_mm, shrink) for name, (affine, field_mm) in candidates.items()}
        self.state.values = values
        dice = {name: self.label_dice_of(affine, field_mm) for name, (affine, field_mm) in candidates.items()}
        if all(value is not None for value in dice.values()):
            self.state.dice = {name: float(value) for name, value in dice.items() if value is not None}
            self._keep_the_best_dice(candidates)
            return
        best = min(values, key=lambda name: values[name])
        tolerance = 1e-4 * max(1.0, abs(values["final"]))
        if best == "final" or values["final"] <= values[best] + tolerance:
            return
        what = "the starting transform" if best == "start" else "the affine stage's result"
        self.state.warnings.append(
            f"the registration ended worse than {what} by the similarity (and label / landmark terms) ({values['final']:.4f} > {values[best]:.4f}, lower is better); kept {what}"
        )
        self.state.affine, self.state.field_mm = candidates[best]

    def _keep_the_best_dice(self, candidates: dict[str, tuple[AffineTransform, Tensor | None]]) -> None:
        """With label maps, their Dice decides: the similarity can improve while the anatomy drifts apart
        (MR -> ultrasound under NMI or LNCC). The latest stage within ``DICE_TOLERANCE`` of the best Dice is kept."""
        dice, values = self.state.dice, self.state.values
        best = max(dice.values())
        kept = next(
            name for name in ("final", "affine", "start") if name in dice and dice[name] >= best - DICE_TOLERANCE
        )
        if kept == "final":
            return
        what = "the starting transform" if kept == "start" else "the affine stage's result"
        similarity = (
            " although the similarity improved" if values.get("final", math.inf) < values.get(kept, -math.inf) else ""
        )
        self.state.warnings.append(
            f"the registration lowered the label Dice ({dice['final']:.3f} < {dice[kept]:.3f} for {what}){similarity}; kept {what}"
        )
        self.state.affine, self.state.field_mm = candidates[kept]


def _pyramid_level_axes(pyramid: dict, factors: tuple[float, ...]) -> Tensor:
    """The level of per-axis ``factors``: the halving chain when all are equal, else one Gaussian step (cached)."""
    if all(abs(f - factors[0]) < 1e-9 for f in factors):
        return _pyramid_level(pyramid, factors[0])
    if factors not in pyramid:
        pyramid[factors] = ops.downsample_axes(pyramid[1.0], factors)
    return pyramid[factors]


def _pyramid_level(pyramid: dict[float, Tensor], shrink: float) -> Tensor:
    """``pyramid[shrink]``, made from the halving chain 1, 2, 4 ... (each level from the one before)."""
    if shrink in pyramid:
        return pyramid[shrink]
    power = 1.0
    while power * 2 <= shrink + 1e-9:
        if power * 2 not in pyramid:
            pyramid[power * 2] = ops.downsample(pyramid[power], 2)
        power *= 2
    if abs(shrink - power) > 1e-9:
        pyramid[shrink] = ops.downsample(pyramid[power], shrink / power)
    return pyramid[shrink]


def field_to_transform(field_mm: Tensor, geometry: Geometry):
    """A field in mm along the array axes as a DisplacementFieldTransform (LPS mm, x/y/z components)."""
    voxels = field_mm.detach().to("cpu", torch.float64)[0] / torch.tensor(frames.voxel_spacing_zyx(geometry)).view(
        -1, *([1] * geometry.ndim)
    )
    return ops.displacement_to_transform(voxels.numpy(), geometry)


def estimate_bytes(
    fixed_shape: tuple[int, ...],
    moving_shape: tuple[int, ...],
    settings: Settings,
    n_labels: int = 0,
    full_output: bool = True,
) -> int:
    """A rough upper bound on the memory one run needs (float32 tensors, autograd buffers, the output field)."""
    ndim = len(fixed_shape)
    fixed_voxels, moving_voxels = math.prod(fixed_shape), math.prod(moving_shape)
    total = 4 * (2 * fixed_voxels + 2 * moving_voxels)  # inputs and their blurred copies
    for shrink in settings.shrink_factors:
        level = math.prod(ops.level_shape(fixed_shape, shrink))
        field_voxels = math.prod(ops.level_shape(fixed_shape, max(shrink, settings.field_shrink)))
        steps = settings.integration_steps if settings.transform == "svf" else 1
        per_iteration = level * (3 * ndim + 40 + 2 * n_labels) + field_voxels * ndim * (4 + 3 * steps)
        total = max(total, 4 * (2 * fixed_voxels + 2 * moving_voxels) + 4 * per_iteration)
    output = (
        fixed_voxels * ndim * 8 * 3 if full_output else 0
    )  # float64 mm field on the fixed grid, and its conversions
    return int(total + output)
