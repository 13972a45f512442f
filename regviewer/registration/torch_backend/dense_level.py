"""One level of the torch engine's dense stage (``instance.InstanceOptimiser.run_dense``): its images and grids,
and the loss of a field parameter; ``field_of`` turns a parameter into the displacement it stands for."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from regviewer.registration.torch_backend import cubic, frames, ops

# With more labels than this, each step's Dice term reads a random subset of them (as DeepReg samples one
# label a step): all 45 of D1's labels cost 140 ms a step on its 4 mm level, a third of the whole run.
LABELS_PER_STEP = 8


@torch.no_grad()
def field_of(parameter: Tensor, to_field_voxels: Tensor, settings) -> Tensor:  # noqa: ANN001 (instance.Settings)
    """The displacement (mm) a parameter stands for: itself, or exp(v) of a velocity field by scaling and squaring."""
    if settings.transform != "svf":
        return parameter.detach().clone()
    velocity = parameter * to_field_voxels
    largest = float(velocity.abs().max())
    # Enough squarings that the first step is under half a voxel (no folds); never more than asked.
    steps = min(settings.integration_steps, max(2, math.ceil(math.log2(max(largest, 1e-6) / 0.5)) + 2))
    return ops.integrate_velocity(velocity, steps) / to_field_voxels


def label_subset(labels: tuple[Tensor, Tensor], draw: torch.Generator) -> tuple[Tensor, Tensor]:
    """A step's (fixed, moving) label one-hots: all of them, or ``LABELS_PER_STEP`` channels drawn at random."""
    fixed_onehot, moving_onehot = labels
    count = fixed_onehot.shape[1]
    if count <= LABELS_PER_STEP:
        return fixed_onehot, moving_onehot
    chosen = torch.randperm(count, generator=draw)[:LABELS_PER_STEP].to(fixed_onehot.device)
    return fixed_onehot.index_select(1, chosen), moving_onehot.index_select(1, chosen)


class DenseLevel:
    """One level of the dense stage: its images, grids and the loss of a field parameter."""

    def __init__(self, owner, shrink: int, matrix: Tensor) -> None:  # noqa: ANN001 (an InstanceOptimiser)
        self.owner = owner
        self.settings = settings = owner.settings
        problem, device, ndim = owner.problem, owner.device, owner.ndim
        self.fixed, self.moving, self.mask = owner._level_images(shrink)
        self.level_shape = tuple(self.fixed.shape[2:])
        self.field_shape = owner.field_shape(shrink)
        self.spacing = frames.voxel_spacing_zyx(frames.level_geometry(problem.fixed_geometry, self.field_shape))
        view = (1, -1) + (1,) * ndim
        self.to_normalised = torch.tensor(
            frames.mm_to_normalised_scale(problem.fixed_geometry), dtype=torch.float32, device=device
        ).view(view)
        self.to_field_voxels = torch.tensor(1.0 / self.spacing, dtype=torch.float32, device=device).view(view)
        self.matrix = matrix
        reverse = torch.eye(ndim, device=device).flip(0)  # array-axis order -> (x, y, z) for grid_sample
        self.field_to_grid = reverse @ matrix[:ndim, :ndim]
        identity = ops.identity_grid(self.level_shape, device, torch.float32)
        self.base_grid = (identity @ self.field_to_grid.T + reverse @ matrix[:ndim, ndim]).contiguous()
        self.statistics = owner._statistics(self.fixed)
        self.labels = (
            owner._level_labels(self.level_shape, tuple(self.moving.shape[2:])) if settings.label_weight > 0 else None
        )
        self.label_draw = torch.Generator().manual_seed(shrink)  # the same subsets run after run
        self.points = owner._level_points() if settings.landmark_weight > 0 else None
        self.regulariser = ops.bending_loss if settings.regulariser == "bending" else ops.diffusion_loss

    @torch.no_grad()
    def displacement_mm(self, parameter: Tensor) -> Tensor:
        """The field the parameter stands for: itself, or exp(v) by scaling and squaring (mm)."""
        return field_of(parameter, self.to_field_voxels, self.settings)

    def loss_and_gradient(self, parameter: Tensor) -> float:
        """Evaluate the loss and leave its gradient in ``parameter.grad``.

        For a velocity field the similarity gradient with respect to the displacement exp(v) is used
        as the gradient for v (back-propagating through the squarings costs several times more on a
        CPU, and both point the same way for the small updates Adam makes); the regulariser's
        gradient is exact.
        """
        svf = self.settings.transform == "svf"
        field = self.displacement_mm(parameter).requires_grad_(True) if svf else parameter
        # The linear part acts on the coarse field before upsampling (resizing is linear): cheap.
        mapped = torch.einsum("ij,bj...->bi...", self.field_to_grid, field * self.to_normalised)
        grid = self.base_grid + cubic.expand(mapped, self.level_shape, self.settings.field_interpolation).movedim(1, -1)
        loss = self.owner._similarity(self.fixed, ops.sample_xyz(self.moving, grid), self.mask, self.statistics)
        if self.labels is not None:
            fixed_onehot, moving_onehot = label_subset(self.labels, self.label_draw)
            loss = loss + self.settings.label_weight * ops.dice_loss(fixed_onehot, ops.sample_xyz(moving_onehot, grid))
        if self.points is not None:
            loss = loss + self.settings.landmark_weight * self.owner._landmark_loss(
                field * self.to_normalised, self.matrix, self.points
            )
        loss = loss + self.settings.regularisation_weight * self.regulariser(parameter, self.spacing)
        loss.backward()
        if svf:
            parameter.grad = parameter.grad + field.grad if parameter.grad is not None else field.grad
        return float(loss.detach())
