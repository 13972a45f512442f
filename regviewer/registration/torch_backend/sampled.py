"""A full-resolution refinement level on random samples (as elastix samples its metric).

After the dense levels, the field (on its coarse grid, unchanged) is refined against the images at
their full resolution. A dense pass there would cost several times the whole run (7 M voxels for a
1 mm brain), so every iteration draws ``samples`` random voxels of the fixed image among those whose
neighbourhood is not constant (background contributes nothing to a local correlation) and compares a
``window``-wide patch around each with the moving image sampled at the mapped patch:

- the field is read once per sample, at its centre: ``u(p + o) ~ u(p)`` for the few voxels of a
  patch (the field lives on a grid several voxels coarser);
- the loss is the local correlation of the patches (``1 - mean cc^2``, the same quantity as
  ``ops.lncc_loss`` for a window of the same width) or their mean squared difference;
- with ``patch_stride`` 2 a patch keeps every other voxel of the window (27 points of 125 in 3D):
  the same window, so the same kind of correlation, and more patches per step for the time (on D1,
  4096 sparse patches beat 2048 full ones in Dice and TRE at the same cost);
- the step decays over the level (cosine to a tenth), so that the noise of the random samples does
  not leave the field jittering by a step's size at the end.

Label terms are not sampled: the level is skipped when they are on (see ``usable``).
"""

from __future__ import annotations

import math

import torch

from regviewer.registration.torch_backend import cubic, ops
from regviewer.registration.torch_backend.adam import Adam
from regviewer.registration.torch_backend.dense_level import field_of

Tensor = torch.Tensor


def patch_offsets(window: int, ndim: int, device: torch.device | str = "cpu", stride: int = 1) -> Tensor:
    """Integer voxel offsets ``[P, ndim]`` of a ``window``-wide cube (array-axis order), centre included;
    ``stride`` > 1 keeps every ``stride``-th voxel along each axis (the same window, fewer points)."""
    radius = window // 2
    steps = torch.arange(-radius, radius + 1, device=device)
    steps = steps[steps % max(1, min(stride, radius)) == 0]  # at least 3 points along an axis
    return torch.stack(torch.meshgrid(*([steps] * ndim), indexing="ij"), dim=-1).reshape(-1, ndim)


def patch_lncc_loss(a: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """``1 - mean over patches of their squared correlation``; ``a``, ``b``: ``[N, P]`` patch values.

    Same formula as ``ops.lncc_loss`` (sums over the window, ``eps`` added to the product of the
    summed variances), so on every interior voxel the two agree.
    """
    size = a.shape[1]
    sum_a, sum_b = a.sum(dim=1), b.sum(dim=1)
    cross = (a * b).sum(dim=1) - sum_a * sum_b / size
    var_a = ((a * a).sum(dim=1) - sum_a * sum_a / size).clamp_min(0)
    var_b = ((b * b).sum(dim=1) - sum_b * sum_b / size).clamp_min(0)
    return 1.0 - (cross * cross / (var_a * var_b + eps)).mean()


def candidate_voxels(fixed: Tensor, window: int, mask: Tensor | None = None) -> Tensor:
    """Flat indices of the voxels whose ``window``-wide neighbourhood of ``fixed [1, 1, *S]`` is not constant."""
    ndim = fixed.dim() - 2
    radius = window // 2
    if fixed.device.type == "cpu":  # scipy's running max / min: O(1) per voxel, 5x faster than torch's pooling here
        from scipy import ndimage

        image = fixed[0, 0].numpy()
        spread = ndimage.maximum_filter(image, 2 * radius + 1, mode="nearest") - ndimage.minimum_filter(
            image, 2 * radius + 1, mode="nearest"
        )
        varying = torch.from_numpy(spread > 1e-6)[None, None]
    else:
        pool = torch.nn.functional.max_pool3d if ndim == 3 else torch.nn.functional.max_pool2d
        high = pool(fixed, 2 * radius + 1, stride=1, padding=radius)
        low = -pool(-fixed, 2 * radius + 1, stride=1, padding=radius)
        varying = (high - low) > 1e-6
    if mask is not None:
        varying = varying & (mask > 0)
    return torch.nonzero(varying.reshape(-1)).reshape(-1)


def usable(settings, problem) -> bool:
    """Whether the sampled level runs: it is asked for and the similarity can be sampled.

    A label term, if any, has guided the coarser levels; this level refines by the images alone.
    """
    return settings.sampled_iterations > 0 and settings.similarity in ("lncc", "mse")


class SampledLevel:
    """The images at full resolution and the loss of a field parameter on random patches."""

    def __init__(self, owner, field_shape: tuple[int, ...], matrix: Tensor, seed: int = 0) -> None:
        from regviewer.registration.torch_backend import frames

        self.owner = owner
        self.settings = settings = owner.settings
        device, ndim = owner.device, owner.ndim
        self.fixed, self.moving, mask = owner._level_images(1)
        self.shape = tuple(self.fixed.shape[2:])
        self.field_shape = tuple(field_shape)
        self.spacing = tuple(
            float(h)
            for h in frames.voxel_spacing_zyx(frames.level_geometry(owner.problem.fixed_geometry, self.field_shape))
        )
        view = (1, -1) + (1,) * ndim
        self.to_normalised = torch.tensor(
            frames.mm_to_normalised_scale(owner.problem.fixed_geometry), dtype=torch.float32, device=device
        ).view(view)
        self.to_field_voxels = torch.tensor([1.0 / h for h in self.spacing], dtype=torch.float32, device=device).view(
            view
        )
        self.matrix = matrix
        reverse = torch.eye(ndim, device=device).flip(0)
        self.field_to_grid = reverse @ matrix[:ndim, :ndim]
        self.grid_offset = reverse @ matrix[:ndim, ndim]
        self.window = 2 * (settings.lncc_window // 2) + 1
        radius = self.window // 2
        offsets = patch_offsets(self.window, ndim, device, settings.patch_stride)
        self.candidates = candidate_voxels(self.fixed, self.window, mask)
        self.sizes = torch.tensor(self.shape, device=device)
        self.scale = ops.voxel_to_normalised_scale(self.shape, device)
        # The fixed image padded by the patch radius (zeros, as the dense LNCC's box sums see it): a patch
        # is then a flat index plus fixed flat offsets, with no clamping.
        self.padded = torch.nn.functional.pad(self.fixed, (radius,) * (2 * ndim)).reshape(-1)
        padded_shape = [n + 2 * radius for n in self.shape]
        padded_strides = torch.tensor([math.prod(padded_shape[i + 1 :]) for i in range(ndim)], device=device)
        self.flat_offsets = ((offsets + radius) * padded_strides).sum(dim=-1)
        self.padded_strides = padded_strides
        self.strides = torch.tensor([math.prod(self.shape[i + 1 :]) for i in range(ndim)], device=device)
        # Patch offsets mapped to the moving grid's (x, y, z) normalised coordinates: [P, ndim].
        self.offsets_grid = (offsets.float() * self.scale) @ self.field_to_grid.T
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.points = owner._level_points() if settings.landmark_weight > 0 else None
        self.regulariser = ops.bending_loss if settings.regulariser == "bending" else ops.diffusion_loss

    def displacement_mm(self, parameter: Tensor) -> Tensor:
        """The field the parameter stands for (``dense_level.field_of``)."""
        return field_of(parameter, self.to_field_voxels, self.settings)

    def draw(self, count: int) -> tuple[Tensor, Tensor]:
        """Voxel indices ``[N, ndim]`` of ``count`` random candidates and their fixed patches ``[N, P]``."""
        chosen = torch.randint(
            0, len(self.candidates), (count,), generator=self.generator, device=self.candidates.device
        )
        chosen = torch.sort(chosen).values  # in memory order: grid_sample then reads the volume in fewer cache misses
        flat = self.candidates[chosen]
        index = torch.stack([(flat // stride) % size for stride, size in zip(self.strides, self.sizes)], dim=-1)
        corner = (index * self.padded_strides).sum(dim=-1)
        return index, self.padded[corner[:, None] + self.flat_offsets[None]]

    def loss_and_gradient(self, parameter: Tensor) -> float:
        """Evaluate the loss on a fresh draw of samples and leave its gradient in ``parameter.grad``
        (the velocity's gradient approximated as in ``dense_level.DenseLevel.loss_and_gradient``)."""
        ndim = self.owner.ndim
        svf = self.settings.transform == "svf"
        field = self.displacement_mm(parameter).requires_grad_(True) if svf else parameter
        index, fixed_patches = self.draw(self.settings.samples)
        count = index.shape[0]
        centres = index.float() * self.scale - 1.0  # normalised, array-axis order
        mapped = torch.einsum("ij,bj...->bi...", self.field_to_grid, field * self.to_normalised)
        if self.settings.field_interpolation == "cubic":  # the spline on a grid 3x finer, read linearly: 2x faster
            mapped = cubic.upsample(mapped, [3 * (n - 1) + 1 for n in mapped.shape[2:]])  # than 4^3 nodes a point
        at_centres = cubic.read(mapped, centres, "linear")
        moved_centres = centres @ self.field_to_grid.T + self.grid_offset + at_centres.T  # [N, ndim] (x, y, z)
        grid = moved_centres[:, None, :] + self.offsets_grid[None]
        moving_patches = ops.sample_xyz(
            self.moving, grid.view(1, count, grid.shape[1], *([1] * (ndim - 2)), ndim)
        ).reshape(count, -1)
        if self.settings.similarity == "mse":
            loss = ((fixed_patches - moving_patches) ** 2).mean()
        else:
            loss = patch_lncc_loss(fixed_patches, moving_patches)
        if self.points is not None:
            loss = loss + self.settings.landmark_weight * self.owner._landmark_loss(
                field * self.to_normalised, self.matrix, self.points
            )
        loss = loss + self.settings.regularisation_weight * self.regulariser(parameter, self.spacing)
        loss.backward()
        if svf and field.grad is not None:
            parameter.grad = field.grad if parameter.grad is None else parameter.grad + field.grad
        return float(loss.detach())


def run_sampled(owner, parameter: Tensor, field_shape: tuple[int, ...], matrix: Tensor) -> Tensor:
    """Refine ``parameter`` (a dense level's field parameter) at full resolution; returns the new parameter.

    Reports as the stage "sampled" (level 0 of 1) and keeps ``owner.state.field_mm`` current.
    """
    settings = owner.settings
    level = SampledLevel(owner, field_shape, matrix)
    if len(level.candidates) == 0:
        return parameter
    parameter = parameter.detach().requires_grad_(True)
    optimiser = Adam([parameter], lr=settings.sampled_learning_rate)
    budget = settings.sampled_iterations
    for iteration in range(budget):
        if owner.cancelled():
            owner.state.cancelled = True
            break
        for group in optimiser.param_groups:  # cosine decay to a tenth of the step
            group["lr"] = settings.sampled_learning_rate * (0.55 + 0.45 * math.cos(math.pi * iteration / budget))
        optimiser.zero_grad(set_to_none=True)
        value = level.loss_and_gradient(parameter)
        optimiser.step()
        owner.state.history.append(("sampled", 0, iteration, value))
        preview = None
        if iteration % settings.preview_every == settings.preview_every - 1 or iteration == budget - 1:
            owner.state.field_mm = level.displacement_mm(parameter.detach())
            preview = owner.current_transform
        owner.report("sampled", 0, 1, iteration, value, preview)
    owner.state.field_mm = level.displacement_mm(parameter.detach())
    return parameter
