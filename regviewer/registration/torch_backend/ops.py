"""Torch operations shared by the instance optimiser and the networks.

Conventions (the same as ``regviewer.core``, restated for tensors):

- Images are ``[B, C, *S]`` tensors with the spatial axes in numpy order: ``(z, y, x)`` in 3D,
  ``(y, x)`` in 2D.
- Displacements are ``[B, ndim, *S]`` tensors in VOXEL units of their own grid, channels in the
  same array-axis order (channel 0 moves along z in 3D). ``warp`` samples at ``x + u(x)``.
- Grids are aligned on voxel centres (``align_corners=True``): a grid of any resolution covering
  the same image puts its first and last voxel centres on the first and last voxel centres of the
  original. ``resize`` keeps that alignment, so fields can move between resolutions by rescaling
  their values by ``(n_new - 1) / (n_old - 1)`` along each axis (``rescale_displacement``).
- Losses: lower is better; each returns a scalar tensor.

``displacement_to_transform`` turns a voxel-unit field into a ``DisplacementFieldTransform`` in
mm (LPS, (x, y, z) components), which is what the rest of RegViewer understands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from regviewer.core.compose import normalise_intensity
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Geometry, Image
from regviewer.core.transforms import DisplacementFieldTransform

Tensor = torch.Tensor

# ---- devices ------------------------------------------------------------------------------------


def pick_device(preference: str = "auto") -> torch.device:
    """The device to compute on: CUDA, then Apple MPS, then CPU for "auto"; or the one asked for.

    Raises:
        RegViewerError: a device was asked for ("cuda", "mps") that this machine does not have.
    """
    preference = (preference or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps is not None and mps.is_available())
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available else torch.device("cpu")
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RegViewerError("device 'cuda' was asked for but no CUDA GPU is available; use device=auto or cpu")
        return torch.device("cuda")
    if preference == "mps":
        if not mps_available:
            raise RegViewerError("device 'mps' was asked for but Apple MPS is not available; use device=auto or cpu")
        return torch.device("mps")
    raise RegViewerError(f"unknown device {preference!r}; choose auto, cpu, cuda or mps")


def describe_device(device: torch.device) -> str:
    """A human-readable device name for logs ("cuda (NVIDIA H100)", "cpu (2 threads)")."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def matrix_dtype(device: torch.device | str) -> torch.dtype:
    """The dtype of coordinate matrices (affine parameters, frame changes) on ``device``.

    float64 keeps sub-voxel accuracy when matrices are chained; Apple's MPS has no float64, so it
    gets float32 (the images and fields are float32 everywhere anyway).
    """
    kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    return torch.float32 if kind == "mps" else torch.float64


# ---- grids and sampling -------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _identity_grid(shape: tuple[int, ...], device: str, dtype: torch.dtype) -> Tensor:
    """Normalised voxel-centre coordinates ``[1, *S, ndim]`` in array-axis order, -1..1 per axis."""
    axes = [
        torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype)
        if n > 1
        else torch.zeros(1, device=device, dtype=dtype)
        for n in shape
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).unsqueeze(0)


def identity_grid(
    shape: Sequence[int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Tensor:
    """Normalised coordinates of the voxel centres of ``shape``: ``[1, *S, ndim]``, array-axis order."""
    return _identity_grid(tuple(int(n) for n in shape), str(device), dtype)


def voxel_to_normalised_scale(
    shape: Sequence[int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Tensor:
    """Per-axis factor ``2 / (n - 1)`` from voxel units to normalised units (array-axis order)."""
    return torch.tensor([2.0 / (n - 1) if n > 1 else 0.0 for n in shape], device=device, dtype=dtype)


def sample(image: Tensor, grid: Tensor, mode: str = "bilinear", padding: str = "zeros") -> Tensor:
    """Sample ``image [B, C, *S_in]`` at normalised points ``grid [B, *S_out, ndim]`` (array-axis order).

    ``mode`` is "bilinear" (linear / trilinear) or "nearest"; ``padding`` "zeros" or "border".
    """
    return sample_xyz(image, grid.flip(-1), mode, padding)


def sample_xyz(image: Tensor, grid_xyz: Tensor, mode: str = "bilinear", padding: str = "zeros") -> Tensor:
    """``sample`` with the grid's last axis in (x, y[, z]) order, as ``grid_sample`` wants it (no copy)."""
    return F.grid_sample(image, grid_xyz, mode=mode, padding_mode=padding, align_corners=True)


def warp(image: Tensor, displacement: Tensor, mode: str = "bilinear", padding: str = "zeros") -> Tensor:
    """``image(x + u(x))`` for every voxel x of the displacement grid (the spatial transformer).

    Args:
        image: ``[B, C, *S]``; it covers the same extent as the displacement grid (usually ``S``).
        displacement: ``[B, ndim, *S]`` in voxel units, channels in array-axis order.
        mode: "bilinear" or "nearest" (labels).
        padding: "zeros" (outside the image reads 0) or "border" (for warping fields).
    """
    shape = tuple(displacement.shape[2:])
    grid_xyz = _identity_grid_xyz(shape, str(displacement.device), displacement.dtype)
    scale_xyz = voxel_to_normalised_scale(shape, displacement.device, displacement.dtype).flip(0)
    # Channel flip and movedim are views: the sum below is the only copy.
    return sample_xyz(image, grid_xyz + displacement.flip(1).movedim(1, -1) * scale_xyz, mode, padding)


@lru_cache(maxsize=8)
def _identity_grid_xyz(shape: tuple[int, ...], device: str, dtype: torch.dtype) -> Tensor:
    return _identity_grid(shape, device, dtype).flip(-1).contiguous()


def integrate_velocity(velocity: Tensor, steps: int = 7) -> Tensor:
    """Scaling and squaring: the displacement of ``exp(v)`` for a stationary velocity field.

    ``u = v / 2**steps``, then ``steps`` times ``u <- u + u o (id + u)``. Same units and layout as
    ``velocity`` (voxels, ``[B, ndim, *S]``). For smooth v the result is a diffeomorphism.
    """
    displacement = velocity / (2**steps)
    for _ in range(steps):
        displacement = displacement + warp(displacement, displacement, padding="border")
    return displacement


def compose(first: Tensor, second: Tensor) -> Tensor:
    """The displacement of "apply ``first``, then ``second``": ``u1(x) + u2(x + u1(x))`` (voxels)."""
    return first + warp(second, first, padding="border")


def resize(tensor: Tensor, shape: Sequence[int], mode: str = "bilinear") -> Tensor:
    """Resample ``[B, C, *S]`` to ``shape`` keeping voxel-centre alignment (values unchanged)."""
    shape = tuple(int(n) for n in shape)
    if tuple(tensor.shape[2:]) == shape:
        return tensor
    if mode == "nearest":
        return sample(
            tensor,
            identity_grid(shape, tensor.device, tensor.dtype).expand(tensor.shape[0], *shape, len(shape)),
            "nearest",
            "border",
        )
    interpolation = "trilinear" if len(shape) == 3 else "bilinear"
    return F.interpolate(tensor, size=shape, mode=interpolation, align_corners=True)


def rescale_displacement(displacement: Tensor, shape: Sequence[int]) -> Tensor:
    """A voxel-unit field moved to a grid of ``shape`` (same extent): resized, values rescaled."""
    old = displacement.shape[2:]
    factors = [((new - 1) / (n - 1)) if n > 1 else 1.0 for n, new in zip(old, shape)]
    resized = resize(displacement, shape)
    scale = torch.tensor(factors, device=displacement.device, dtype=displacement.dtype).view(1, -1, *([1] * len(old)))
    return resized * scale


def level_shape(shape: Sequence[int], shrink: float) -> tuple[int, ...]:
    """The grid shape for a shrink factor, voxel-centre aligned: ``round((n - 1) / shrink) + 1``."""
    return tuple(max(2, int(round((n - 1) / shrink)) + 1) if n > 1 else 1 for n in shape)


def axis_shrinks(
    shape: Sequence[int], spacing: Sequence[float], shrink: float, min_voxels: int = 24
) -> tuple[float, ...]:
    """Per-axis shrink factors of a pyramid level, from the voxel sizes ``spacing`` (mm, array-axis order).

    The level's voxels are about ``shrink`` times the finest spacing along every axis (an axis
    already coarser than that is not shrunk: thin slices of anisotropic MR stay whole), and no axis
    drops below ``min_voxels`` voxels (or its own size when smaller), so that small or thin volumes
    keep usable coarse levels instead of degenerating to a few voxels; the shrink itself is at most
    the size of the finest axes divided by ``min_voxels``.
    """
    finest = float(min(spacing))
    # Small volumes (a 41-voxel prostate MR) are not shrunk more than their fine axes allow: an LNCC
    # window and an affine fitted on a level of a dozen voxels degenerate and the run diverges.
    fine_axes = [int(n) for n, h in zip(shape, spacing) if n > 1 and h <= 1.5 * finest]
    shrink = min(float(shrink), float(max(1, min(fine_axes, default=min_voxels) // min_voxels)))
    target = shrink * finest
    factors = []
    for n, h in zip(shape, spacing):
        if n <= 1:
            factors.append(1.0)
            continue
        keep = min(int(n), int(min_voxels))
        most = (n - 1) / max(keep - 1, 1)
        factors.append(float(max(1.0, min(target / float(h), most))))
    return tuple(factors)


def level_shape_axes(shape: Sequence[int], factors: Sequence[float]) -> tuple[int, ...]:
    """``level_shape`` with one shrink factor per axis."""
    return tuple(level_shape((n,), f)[0] for n, f in zip(shape, factors))


def downsample_axes(tensor: Tensor, factors: Sequence[float]) -> Tensor:
    """``[B, C, *S]`` smoothed and resampled by one shrink factor per axis (``downsample`` when all equal)."""
    factors = tuple(float(f) for f in factors)
    if all(abs(f - factors[0]) < 1e-9 for f in factors):
        return downsample(tensor, factors[0])
    out = tensor
    for axis, factor in enumerate(factors):
        if factor > 1.01:
            out = gaussian_blur_axis(out, 0.5 * factor, axis)
    return resize(out, level_shape_axes(tensor.shape[2:], factors))


def gaussian_blur_axis(tensor: Tensor, sigma_voxels: float, axis: int) -> Tensor:
    """Gaussian smoothing of ``[B, C, *S]`` along one array axis (edges replicated)."""
    ndim = tensor.dim() - 2
    if sigma_voxels <= 0 or tensor.shape[2 + axis] == 1:
        return tensor
    radius = max(1, int(math.ceil(3 * sigma_voxels)))
    offsets = torch.arange(-radius, radius + 1, device=tensor.device, dtype=tensor.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma_voxels) ** 2)
    kernel = kernel / kernel.sum()
    channels = tensor.shape[1]
    view = [1] * ndim
    view[axis] = kernel.numel()
    weight = kernel.view(1, 1, *view).repeat(channels, 1, *([1] * ndim))
    padding = [0] * (2 * ndim)
    padding[2 * (ndim - 1 - axis)] = padding[2 * (ndim - 1 - axis) + 1] = radius
    convolve = F.conv3d if ndim == 3 else F.conv2d
    return convolve(F.pad(tensor, padding, mode="replicate"), weight, groups=channels)


def gaussian_blur(tensor: Tensor, sigma_voxels: float) -> Tensor:
    """Separable Gaussian smoothing of ``[B, C, *S]`` (each channel alone), edges replicated."""
    out = tensor
    for axis in range(tensor.dim() - 2):
        out = gaussian_blur_axis(out, sigma_voxels, axis)
    return out


def binomial_blur(tensor: Tensor) -> Tensor:
    """Smoothing by the [1, 2, 1] / 4 kernel along every axis (edges replicated): cheap anti-aliasing.

    Shifted adds along one axis at a time: 7x faster than two 2-wide average poolings on a 7 M-voxel
    volume (0.29 s there, a quarter of the pyramid's time).
    """
    out = tensor
    for axis in range(2, tensor.dim()):
        size = out.shape[axis]
        if size < 2:
            continue
        padded = torch.cat([out.narrow(axis, 0, 1), out, out.narrow(axis, size - 1, 1)], dim=axis)
        out = padded.narrow(axis, 0, size).add(padded.narrow(axis, 2, size))
        out = out.add_(padded.narrow(axis, 1, size), alpha=2.0).mul_(0.25)
    return out


def downsample(tensor: Tensor, shrink: float) -> Tensor:
    """``[B, C, *S]`` smoothed and resampled about ``shrink`` times coarser, voxel-centre aligned.

    Powers of two go by repeated binomial smoothing and halving (fast on large volumes); a remaining
    factor uses a Gaussian of 0.5 x factor voxels.
    """
    out, remaining = tensor, float(shrink)
    while remaining >= 2:
        out = resize(binomial_blur(out), level_shape(out.shape[2:], 2))
        remaining /= 2
    if remaining > 1.01:
        out = resize(gaussian_blur(out, 0.5 * remaining), level_shape(out.shape[2:], remaining))
    return out


def label_fractions(labels: Tensor, values: Tensor, shape: Sequence[int]) -> Tensor:
    """``[1, L, *shape]``: the fraction of each coarse voxel that each of the L ``values`` covers in ``labels``.

    ``labels`` is ``[1, 1, *S]`` (integers). Each voxel counts for its nearest coarse voxel (centres aligned
    at the corners, as ``resize``), by one bincount: small structures keep their share of a coarse voxel
    instead of appearing or vanishing as nearest-neighbour sampling makes them. On the same grid: one-hot.
    """
    full = tuple(labels.shape[2:])
    shape = tuple(int(n) for n in shape)
    cells = int(np.prod(shape))
    cell = torch.zeros(full, dtype=torch.long, device=labels.device)
    for axis, (n, m) in enumerate(zip(full, shape)):
        index = torch.arange(n, device=labels.device, dtype=torch.float64) * ((m - 1) / (n - 1) if n > 1 else 0.0)
        view = [1] * len(full)
        view[axis] = n
        cell = cell * m + torch.floor(index + 0.5).long().view(view)
    flat = labels.reshape(-1).long()
    channel = torch.searchsorted(values, flat).clamp_(max=len(values) - 1)
    inside = values[channel] == flat
    counts = torch.bincount(channel[inside] * cells + cell.reshape(-1)[inside], minlength=len(values) * cells)
    totals = torch.bincount(cell.reshape(-1), minlength=cells).clamp_(min=1)
    return (counts.view(len(values), cells).float() / totals.float()).view(1, len(values), *shape)


# ---- losses -------------------------------------------------------------------------------------


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def _box_sum_forward(tensor: Tensor, window: int) -> Tensor:
    radius = window // 2
    out = tensor
    for axis in range(2, tensor.dim()):
        size = out.shape[axis]
        if size == 1 or radius == 0:
            continue
        padding = [0, 0] * (tensor.dim() - 1 - axis) + [radius, radius]
        padded = F.pad(out, padding)
        out = padded.narrow(axis, 0, size).clone()
        for shift in range(1, 2 * radius + 1):
            out.add_(padded.narrow(axis, shift, size))
    return out


class _BoxSum(torch.autograd.Function):
    """The box sum with zeros outside is its own adjoint: the backward pass is one more box sum."""

    @staticmethod
    def forward(ctx, tensor: Tensor, window: int) -> Tensor:  # noqa: ANN001
        ctx.window = window
        return _box_sum_forward(tensor, window)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        return _box_sum_forward(grad, ctx.window), None


def box_sum(tensor: Tensor, window: int) -> Tensor:
    """Sum over a ``window``-wide cube around each voxel (zeros outside), by shifted adds along one axis at a time.

    Forward and backward are the same sum (the operator is symmetric), so the backward pass costs what the
    forward does: on a 41 x 49 x 57 level with three channels, 5 ms for both against 26 ms with separable
    depthwise convolutions, whose backward pass is four times their forward.
    """
    window = 2 * (window // 2) + 1
    return _BoxSum.apply(tensor, window) if tensor.requires_grad else _box_sum_forward(tensor, window)


def lncc_statistics(a: Tensor, window: int = 9) -> tuple[Tensor, Tensor]:
    """Local sums and variances (times the window size) of ``a``: what ``lncc_loss`` needs of a fixed image.

    Computing them once per resolution level saves two of the five box filters per iteration.
    """
    inverse_size = 1.0 / float((2 * (window // 2) + 1) ** (a.dim() - 2))
    sums = box_sum(torch.cat([a, a * a], dim=1), window)
    sum_a, sum_aa = sums.split(a.shape[1], dim=1)
    return sum_a, (sum_aa - sum_a * sum_a * inverse_size).clamp_min(0)


def lncc_loss(
    a: Tensor,
    b: Tensor,
    window: int = 9,
    mask: Tensor | None = None,
    eps: float = 1e-5,
    a_statistics: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """``1 - mean(local squared correlation)`` in ``window``-wide cubes (VoxelMorph's NCC, 0 = perfect).

    ``a_statistics``: ``lncc_statistics(a, window)`` when ``a`` is fixed across calls.
    """
    inverse_size = 1.0 / float((2 * (window // 2) + 1) ** (a.dim() - 2))
    sum_a, var_a = a_statistics if a_statistics is not None else lncc_statistics(a, window)
    sums = box_sum(torch.cat([b, b * b, a * b], dim=1), window)
    sum_b, sum_bb, sum_ab = sums.split(b.shape[1], dim=1)
    mean_b = sum_b * inverse_size
    cross = sum_ab - sum_a * mean_b
    var_b = (sum_bb - sum_b * mean_b).clamp_min(0)
    correlation = cross * cross / (var_a * var_b + eps)
    return 1.0 - _masked_mean(correlation, mask)


def mse_loss(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared intensity difference."""
    return _masked_mean((a - b) ** 2, mask)


def nmi_loss(a: Tensor, b: Tensor, bins: int = 32, mask: Tensor | None = None, max_samples: int = 200_000) -> Tensor:
    """``2 - NMI`` with NMI = (H(a) + H(b)) / H(a, b) from a Parzen (Gaussian soft-bin) joint histogram.

    Intensities are expected in 0..1. At most ``max_samples`` voxels (a fresh random subset per
    call, inside ``mask`` when given) enter the histogram, which bounds memory on large volumes.
    About 1 for independent images, lower for aligned ones (the soft bins keep it above 0 even for
    identical images).
    """
    values_a, values_b = a.reshape(-1), b.reshape(-1)
    if mask is not None:
        keep = mask.expand_as(a).reshape(-1) > 0
        values_a, values_b = values_a[keep], values_b[keep]
    if values_a.numel() > max_samples:
        chosen = torch.randint(0, values_a.numel(), (max_samples,), device=a.device)
        values_a, values_b = values_a[chosen], values_b[chosen]
    centres = torch.linspace(0.0, 1.0, bins, device=a.device, dtype=a.dtype)
    sigma = 1.0 / (bins - 1)

    def soft_bins(values: Tensor) -> Tensor:
        weights = torch.exp(-0.5 * ((values[:, None] - centres[None, :]) / sigma) ** 2)
        return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)

    weights_a, weights_b = soft_bins(values_a), soft_bins(values_b)
    joint = weights_a.T @ weights_b / max(1, values_a.numel())
    p_a, p_b = joint.sum(dim=1), joint.sum(dim=0)

    def entropy(p: Tensor) -> Tensor:
        return -(p * torch.log(p.clamp_min(1e-12))).sum()

    return 2.0 - (entropy(p_a) + entropy(p_b)) / entropy(joint).clamp_min(1e-12)


def dice_loss(a_onehot: Tensor, b_onehot: Tensor, eps: float = 1e-5) -> Tensor:
    """``1 - mean Dice`` over the channels of two (soft) one-hot label tensors ``[B, L, *S]``."""
    dims = tuple(range(2, a_onehot.dim()))
    overlap = (a_onehot * b_onehot).sum(dim=dims)
    total = a_onehot.sum(dim=dims) + b_onehot.sum(dim=dims)
    return 1.0 - ((2 * overlap + eps) / (total + eps)).mean()


def _difference(tensor: Tensor, axis: int) -> Tensor:
    n = tensor.shape[axis]
    return tensor.narrow(axis, 1, n - 1) - tensor.narrow(axis, 0, n - 1)


def diffusion_loss(displacement: Tensor, spacing: Sequence[float] | None = None) -> Tensor:
    """Membrane energy: mean squared first derivatives of the field, summed over the axes.

    Derivatives are per voxel of the grid, or per unit of ``spacing`` (grid spacing along each array
    axis, in the field's units: then the energy is the same whatever the grid's resolution).
    """
    ndim = displacement.dim() - 2
    steps = [1.0] * ndim if spacing is None else [float(h) for h in spacing]
    total = displacement.new_zeros(())
    for axis in range(ndim):
        if displacement.shape[2 + axis] > 1:
            total = total + (_difference(displacement, 2 + axis) ** 2).mean() / steps[axis] ** 2
    return total


def bending_loss(displacement: Tensor, spacing: Sequence[float] | None = None) -> Tensor:
    """Bending energy: mean squared second derivatives (pure and mixed, mixed counted twice).

    ``spacing`` as for ``diffusion_loss``.
    """
    ndim = displacement.dim() - 2
    steps = [1.0] * ndim if spacing is None else [float(h) for h in spacing]
    axes = [axis for axis in range(ndim) if displacement.shape[2 + axis] > 2]
    total = displacement.new_zeros(())
    first = {axis: _difference(displacement, 2 + axis) / steps[axis] for axis in axes}
    for i, axis in enumerate(axes):
        total = total + (_difference(first[axis], 2 + axis) ** 2).mean() / steps[axis] ** 2
        for other in axes[i + 1 :]:
            total = total + 2 * (_difference(first[axis], 2 + other) ** 2).mean() / steps[other] ** 2
    return total


def jacobian_determinant_torch(displacement: Tensor) -> Tensor:
    """``det(I + grad u)`` per voxel (central differences, voxel units): ``[B, *S]``; <= 0 is a fold."""
    ndim = displacement.shape[1]
    spatial = tuple(range(2, 2 + ndim))
    gradients = torch.gradient(displacement, dim=spatial)  # one [B, ndim, *S] per axis
    jacobian = torch.stack(gradients, dim=2).movedim((1, 2), (-2, -1))  # [B, *S, ndim, ndim]
    return torch.linalg.det(jacobian + torch.eye(ndim, device=displacement.device, dtype=displacement.dtype))


# ---- conversions --------------------------------------------------------------------------------


def displacement_to_transform(
    displacement_voxels: np.ndarray | Tensor, geometry: Geometry
) -> DisplacementFieldTransform:
    """A voxel-unit field ``(ndim, *S)`` (or ``[1, ndim, *S]``) on ``geometry`` as a mm transform.

    Components go from array-axis order (z, y, x) to (x, y, z) and through ``direction @ diag(spacing)``
    into LPS mm: the transform maps each voxel centre x to ``x + u(x)`` in physical space.
    """
    if isinstance(displacement_voxels, torch.Tensor):
        displacement_voxels = displacement_voxels.detach().to("cpu", torch.float64).numpy()
    field = np.asarray(displacement_voxels, dtype=np.float64)
    if field.ndim == geometry.ndim + 2 and field.shape[0] == 1:
        field = field[0]
    if field.shape != (geometry.ndim,) + tuple(geometry.shape):
        raise RegViewerError(
            f"displacement of shape {field.shape} does not fit grid {geometry.shape} with {geometry.ndim} components"
        )
    index_to_mm = geometry.direction @ np.diag(geometry.spacing)
    voxels_xyz = np.moveaxis(field[::-1], 0, -1)
    return DisplacementFieldTransform(voxels_xyz @ index_to_mm.T, geometry)


def image_to_tensor(
    image: Image | np.ndarray,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    normalise: bool = False,
) -> Tensor:
    """An image (or array) as a ``[1, 1, *S]`` tensor; ``normalise`` maps the 0.5..99.5 percentiles to 0..1."""
    array = np.asarray(image.array if isinstance(image, Image) else image, dtype=np.float32)
    if normalise:
        array = normalise_intensity(array)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=dtype)[None, None]
