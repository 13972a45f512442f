"""Network inference for the "network" method: predict, optionally refine, map back to the fixed grid.

The network works on the model grid (see ``network_grid``); its displacement is in voxels of that
grid. ``refine`` runs a few steps of instance optimisation on top of the prediction (a correction
velocity at a quarter resolution, LNCC or MSE at half resolution plus diffusion regularisation, Adam), in the spirit of
VoxelMorph's test-time refinement. ``to_fixed_grid`` samples the displacement at every voxel centre
of the full fixed grid and converts it to mm (LPS, (x, y, z) components).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from regviewer.core.image import Geometry
from regviewer.core.progress import CancelToken
from regviewer.core.transforms import DisplacementFieldTransform
from regviewer.registration.torch_backend import ops
from regviewer.registration.torch_backend.adam import Adam
from regviewer.registration.torch_backend.model_io import LoadedModel

Tensor = torch.Tensor


def predict(model: LoadedModel, moving: np.ndarray, fixed: np.ndarray, device: torch.device, passes: int = 1) -> Tensor:
    """The network's displacement ``[1, ndim, *S]`` (model voxels) for two arrays on the model grid.

    With ``passes`` > 1 the network is applied again to the moving image warped by the displacement so
    far, and the corrections are composed (a recursive cascade with shared weights): each pass removes
    part of the remaining misalignment.
    """
    module = model.module.to(device)
    moving_tensor = torch.from_numpy(np.ascontiguousarray(moving, dtype=np.float32))[None, None].to(device)
    fixed_tensor = torch.from_numpy(np.ascontiguousarray(fixed, dtype=np.float32))[None, None].to(device)
    expected = (1, model.ndim) + tuple(fixed.shape)
    total: Tensor | None = None
    with torch.inference_mode():
        for _ in range(max(1, passes)):
            warped = moving_tensor if total is None else ops.warp(moving_tensor, total)
            step = module(warped, fixed_tensor)
            if not isinstance(step, torch.Tensor) or tuple(step.shape) != expected:
                shape = tuple(step.shape) if isinstance(step, torch.Tensor) else type(step).__name__
                from regviewer.core.errors import RegViewerError

                raise RegViewerError(
                    f"{model.source}: the network returned {shape}, expected a displacement of shape {expected}"
                )
            step = step.float()
            total = step if total is None else ops.compose(step, total)
    return total.clone()


def refine(
    initial: Tensor,
    moving: np.ndarray,
    fixed: np.ndarray,
    iterations: int,
    similarity: str = "lncc",
    smoothness: float = 1.0,
    learning_rate: float = 0.05,
    on_iteration: Callable[[int, float, Callable[[], Tensor]], None] | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Tensor, bool]:
    """Instance optimisation on top of ``initial`` (model voxels); returns (displacement, cancelled).

    The result is ``compose(correction, initial)``: the correction, the exponential of a velocity at
    a quarter of the model resolution, is applied first, so it fine-tunes the network-warped image.
    The similarity is evaluated at half the model resolution (8x cheaper in 3D than the full grid).
    ``on_iteration`` receives (iteration, similarity, a function giving the current full displacement).
    """
    device = initial.device
    shape = tuple(initial.shape[2:])
    half = ops.level_shape(shape, 2)

    def to_half(array: np.ndarray) -> Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None].to(device)
        return ops.resize(ops.gaussian_blur(tensor, 0.5), half)

    moving_half, fixed_half = to_half(moving), to_half(fixed)
    initial_half = ops.rescale_displacement(initial, half)
    velocity = torch.zeros((1, len(shape)) + ops.level_shape(half, 2), device=device, requires_grad=True)
    optimiser = Adam([velocity], lr=learning_rate)
    window = 5 if len(shape) == 3 else 7

    def full() -> Tensor:
        with torch.no_grad():
            return ops.compose(ops.rescale_displacement(ops.integrate_velocity(velocity, 6), shape), initial)

    for iteration in range(iterations):
        if cancel is not None and cancel.cancelled:
            return full(), True
        field = ops.compose(ops.rescale_displacement(ops.integrate_velocity(velocity, 6), half), initial_half)
        warped = ops.warp(moving_half, field)
        similarity_loss = (
            ops.lncc_loss(warped, fixed_half, window) if similarity == "lncc" else ops.mse_loss(warped, fixed_half)
        )
        loss = similarity_loss + smoothness * ops.diffusion_loss(field)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if on_iteration is not None:
            on_iteration(iteration, float(similarity_loss.detach()), full)
    return (full() if iterations > 0 else initial), False


def to_fixed_grid(
    displacement: Tensor, model_geometry: Geometry, fixed_geometry: Geometry
) -> DisplacementFieldTransform:
    """The model-grid displacement sampled at every fixed voxel centre, as a mm field on the fixed grid.

    Both grids share the fixed image's direction (the model grid is built that way), so the map from
    fixed indices to model indices is a per-axis scaling and shift, sampled with one ``grid_sample``.
    """
    ndim = fixed_geometry.ndim
    to_model = np.linalg.inv(model_geometry.index_to_physical_matrix) @ fixed_geometry.index_to_physical_matrix
    device = displacement.device
    axes = []
    for array_axis in range(ndim):
        xyz = ndim - 1 - array_axis
        count = fixed_geometry.shape[array_axis]
        index = torch.arange(count, dtype=torch.float64) * to_model[xyz, xyz] + to_model[xyz, ndim]
        size = model_geometry.shape[array_axis]
        axes.append((2.0 * index / max(size - 1, 1) - 1.0).float().to(device))
    off_diagonal = to_model[:ndim, :ndim] - np.diag(np.diag(to_model[:ndim, :ndim]))
    if np.abs(off_diagonal).max() > 1e-6:
        raise ValueError("the model grid must share the fixed grid's direction")
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).unsqueeze(0)
    mode = "bilinear"
    sampled = F.grid_sample(displacement, grid.flip(-1), mode=mode, padding_mode="border", align_corners=True)[0]
    voxels_xyz = sampled.flip(0).movedim(0, -1).double().cpu().numpy()  # (*S_fixed, ndim), model voxels (x, y, z)
    index_to_mm = model_geometry.direction @ np.diag(model_geometry.spacing)
    return DisplacementFieldTransform(voxels_xyz @ index_to_mm.T, fixed_geometry)
