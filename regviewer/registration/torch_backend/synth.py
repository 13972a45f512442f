"""Random training pairs: SynthMorph-style synthetic images and random warps of real images (2D / 3D).

SynthMorph (Hoffmann et al. 2022) trains a registration network without any data: draw a random
label map (the argmax of smoothed noise, one channel per label), deform it twice with random smooth
diffeomorphisms to get a fixed and a moving label map that correspond, then paint each label of each
map with its own random intensity, blur it, multiply by a random bias field and add noise. Fixed and
moving get different intensities for the same label, so the network cannot rely on contrast: it
learns from the label overlap (Dice) alone and becomes contrast-agnostic.

Real images are augmented the same way: two random deformations (a small affine about the centre
and a smooth diffeomorphic field) of one image, or of two images of a list, plus random gamma,
bias and noise.

Everything is in torch on the given device, in voxel units of the model grid and array-axis
order (see ``ops``). Randomness comes from a ``torch.Generator`` so that a seed fixes a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from regviewer.registration.torch_backend import ops

Tensor = torch.Tensor


@dataclass(frozen=True)
class DeformationSettings:
    """Ranges of the random deformations (uniform draws within +- the value).

    Attributes:
        max_displacement_voxels: largest length of the smooth (non-linear) part, in model voxels.
        control_spacing_voxels: spacing of the coarse random velocity grid (larger = smoother).
        max_rotation_deg: rotation about each axis.
        max_scaling: relative scaling along each axis (0.05 = +-5 %).
        max_translation_voxels: translation along each axis.
    """

    max_displacement_voxels: float = 3.0
    control_spacing_voxels: float = 8.0
    max_rotation_deg: float = 5.0
    max_scaling: float = 0.05
    max_translation_voxels: float = 3.0


@dataclass(frozen=True)
class SynthSettings:
    """Synthetic label maps and images.

    Attributes:
        labels: number of labels of the random label maps.
        blob_spacing_voxels: (min, max) size of the smoothed-noise blobs that make the labels.
        noise_std: (max) standard deviation of the additive noise (images are 0..1).
        blur_sigma_voxels: (max) Gaussian blur of the painted images.
        bias_strength: (max) amplitude of the multiplicative log bias field.
    """

    labels: int = 16
    blob_spacing_voxels: tuple[float, float] = (6.0, 16.0)
    noise_std: float = 0.05
    blur_sigma_voxels: float = 1.0
    bias_strength: float = 0.3


def _uniform(generator: torch.Generator, size: tuple[int, ...], low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(size, generator=generator)


def smooth_noise(
    shape: tuple[int, ...], channels: int, spacing_voxels: float, generator: torch.Generator, device: torch.device
) -> Tensor:
    """``[1, channels, *shape]`` standard-normal noise on a coarse grid (one node every ``spacing_voxels``), linearly upsampled."""
    coarse = tuple(max(2, int(math.ceil((n - 1) / spacing_voxels)) + 1) for n in shape)
    noise = torch.randn((1, channels) + coarse, generator=generator)
    return ops.resize(noise.to(device), shape)


def random_smooth_displacement(
    shape: tuple[int, ...], settings: DeformationSettings, generator: torch.Generator, device: torch.device
) -> Tensor:
    """A random diffeomorphic displacement ``[1, ndim, *shape]`` (voxels): an integrated smooth velocity."""
    ndim = len(shape)
    # Integrated on a grid of half the resolution (the field is smooth; 4x / 8x cheaper), then upsampled.
    coarse = ops.level_shape(shape, 2) if settings.control_spacing_voxels >= 4 else tuple(shape)
    velocity = smooth_noise(
        coarse, ndim, settings.control_spacing_voxels * (coarse[0] - 1) / max(shape[0] - 1, 1), generator, device
    )
    peak = velocity.norm(dim=1).max().clamp_min(1e-6)
    size = float(_uniform(generator, (1,), 0.0, settings.max_displacement_voxels))
    velocity = velocity * (size / peak) * (coarse[0] - 1) / max(shape[0] - 1, 1)  # in coarse voxels
    return ops.rescale_displacement(ops.integrate_velocity(velocity, steps=7), shape)


def random_affine_displacement(
    shape: tuple[int, ...], settings: DeformationSettings, generator: torch.Generator, device: torch.device
) -> Tensor:
    """The displacement ``[1, ndim, *shape]`` (voxels) of a random affine about the grid centre."""
    ndim = len(shape)
    angles = torch.deg2rad(
        _uniform(generator, (3 if ndim == 3 else 1,), -settings.max_rotation_deg, settings.max_rotation_deg)
    )
    rotation = _rotation(angles, ndim)
    scales = 1.0 + _uniform(generator, (ndim,), -settings.max_scaling, settings.max_scaling)
    matrix = (rotation @ torch.diag(scales)).to(device)
    translation = _uniform(generator, (ndim,), -settings.max_translation_voxels, settings.max_translation_voxels).to(
        device
    )
    axes = [torch.arange(n, dtype=torch.float32, device=device) for n in shape]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)  # [ndim, *S], array-axis order
    centre = torch.tensor([(n - 1) / 2.0 for n in shape], device=device).view(ndim, *([1] * ndim))
    relative = (points - centre).reshape(ndim, -1)
    moved = (matrix @ relative).reshape(points.shape) + centre + translation.view(ndim, *([1] * ndim))
    return (moved - points).unsqueeze(0)


def _rotation(angles: Tensor, ndim: int) -> Tensor:
    if ndim == 2:
        c, s = torch.cos(angles[0]), torch.sin(angles[0])
        return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    result = torch.eye(3)
    for axis, angle in enumerate(angles):
        c, s = torch.cos(angle), torch.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        rotation = torch.eye(3)
        rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
        result = rotation @ result
    return result


def random_deformation(
    shape: tuple[int, ...], settings: DeformationSettings, generator: torch.Generator, device: torch.device
) -> Tensor:
    """A random smooth deformation followed by a random affine, as one displacement (voxels)."""
    smooth = random_smooth_displacement(shape, settings, generator, device)
    affine = random_affine_displacement(shape, settings, generator, device)
    return ops.compose(smooth, affine)


def random_label_map(
    shape: tuple[int, ...], settings: SynthSettings, generator: torch.Generator, device: torch.device
) -> Tensor:
    """``[1, 1, *shape]`` integer labels 0..labels-1: the argmax of smoothed noise channels."""
    low, high = settings.blob_spacing_voxels
    spacing = float(_uniform(generator, (1,), low, high))
    noise = smooth_noise(shape, settings.labels, spacing, generator, device)
    return noise.argmax(dim=1, keepdim=True)


def one_hot(labels: Tensor, count: int) -> Tensor:
    """``[B, 1, *S]`` integer labels -> ``[B, count, *S]`` float one-hot."""
    return F.one_hot(labels[:, 0].long(), count).movedim(-1, 1).float()


def paint(labels: Tensor, settings: SynthSettings, generator: torch.Generator) -> Tensor:
    """A random image ``[1, 1, *S]`` in 0..1 from a label map: random mean per label, blur, bias, noise, gamma."""
    device = labels.device
    shape = tuple(labels.shape[2:])
    means = torch.rand((settings.labels,), generator=generator).to(device)
    image = means[labels.long()].float()
    image = ops.gaussian_blur(image, float(_uniform(generator, (1,), 0.0, settings.blur_sigma_voxels)))
    return augment_intensity(image, settings.noise_std, settings.bias_strength, generator, shape)


def augment_intensity(
    image: Tensor,
    noise_std: float,
    bias_strength: float,
    generator: torch.Generator,
    shape: tuple[int, ...] | None = None,
) -> Tensor:
    """Random multiplicative bias field, additive noise and gamma on a 0..1 image; rescaled to 0..1."""
    device = image.device
    shape = shape or tuple(image.shape[2:])
    if bias_strength > 0:
        bias = smooth_noise(shape, 1, max(shape) / 3.0, generator, device)
        image = image * torch.exp(bias * float(_uniform(generator, (1,), 0.0, bias_strength)))
    if noise_std > 0:
        noise = torch.randn(image.shape, generator=generator).to(device)
        image = image + noise * float(_uniform(generator, (1,), 0.0, noise_std))
    image = image - image.amin()
    image = image / image.amax().clamp_min(1e-6)
    gamma = math.exp(float(torch.randn((1,), generator=generator)) * 0.25)
    return image.clamp_min(0.0) ** gamma


def synthetic_pair(
    shape: tuple[int, ...],
    synth: SynthSettings,
    deformation: DeformationSettings,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(moving image, fixed image, moving one-hot labels, fixed one-hot labels, true displacement).

    One random label map is deformed by a random ``phi`` into the moving labels, and by ``psi`` then
    ``phi`` into the fixed labels (nearest-neighbour, so labels stay labels): ``fixed(x) = moving(psi(x))``,
    so the true displacement ``psi - id`` (voxels) is known. Each map is painted with its own random
    intensities. All tensors are ``[1, C, *shape]``.
    """
    base = random_label_map(shape, synth, generator, device).float()
    phi = random_deformation(shape, deformation, generator, device)
    psi = random_deformation(shape, deformation, generator, device)
    moving_labels = ops.warp(base, phi, mode="nearest")
    fixed_labels = ops.warp(base, ops.compose(psi, phi), mode="nearest")
    return (
        paint(moving_labels, synth, generator),
        paint(fixed_labels, synth, generator),
        one_hot(moving_labels, synth.labels),
        one_hot(fixed_labels, synth.labels),
        psi,
    )


def real_pair(
    moving_source: Tensor,
    fixed_source: Tensor,
    deformation: DeformationSettings,
    generator: torch.Generator,
    noise_std: float = 0.02,
    bias_strength: float = 0.2,
    moving_onehot: Tensor | None = None,
    fixed_onehot: Tensor | None = None,
    corner: tuple[int, ...] | None = None,
    window_shape: tuple[int, ...] | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Randomly deformed and intensity-augmented copies of two real images (possibly the same one).

    When both sources are the same tensor, the pair is ``moving = source o phi`` and ``fixed = moving o psi``
    (one interpolation each) and the true displacement ``psi`` is returned; for two images it is None.

    Args:
        moving_source, fixed_source: ``[1, 1, *S]`` images in 0..1 on the model grid.
        deformation: ranges of the random deformations (a fresh one for each image).
        generator: the random stream.
        noise_std, bias_strength: intensity augmentation ranges.
        moving_onehot, fixed_onehot: optional ``[1, L, *S]`` one-hot labels deformed with their image.
        corner, window_shape: make the pair for this window of the sources only (training crops):
            deformations live on the window, images are read from the whole source around it.

    Returns:
        (moving, fixed, moving labels or None, fixed labels or None, true displacement or None).
    """
    shape = tuple(window_shape or fixed_source.shape[2:])
    device = fixed_source.device
    phi = random_deformation(shape, deformation, generator, device)
    psi = random_deformation(shape, deformation, generator, device)
    same = moving_source is fixed_source
    # One image: fixed = source o phi o psi, moving = source o phi, so the truth psi is known.
    fixed_warp = ops.compose(psi, phi) if same else random_deformation(shape, deformation, generator, device)
    outputs = []
    for image, labels, displacement in ((moving_source, moving_onehot, phi), (fixed_source, fixed_onehot, fixed_warp)):
        warped = augment_intensity(warp_window(image, displacement, corner), noise_std, bias_strength, generator, shape)
        warped_labels = None if labels is None else warp_window(labels, displacement, corner)
        outputs.append((warped, warped_labels))
    (moving, moving_labels), (fixed, fixed_labels) = outputs
    return moving, fixed, moving_labels, fixed_labels, psi if same else None


def warp_window(image: Tensor, displacement: Tensor, corner: tuple[int, ...] | None = None) -> Tensor:
    """``image(corner + x + u(x))`` for the voxels x of the displacement's grid (a window of ``image``).

    Without ``corner`` the window is the whole image (``ops.warp``).
    """
    if corner is None:
        return ops.warp(image, displacement)
    shape = tuple(displacement.shape[2:])
    source = tuple(image.shape[2:])
    axes = [torch.arange(n, dtype=displacement.dtype, device=displacement.device) + k for n, k in zip(shape, corner)]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0).unsqueeze(0) + displacement
    scale = torch.tensor([2.0 / (n - 1) for n in source], dtype=displacement.dtype, device=displacement.device)
    grid = points.movedim(1, -1) * scale - 1.0
    return ops.sample(image, grid)
