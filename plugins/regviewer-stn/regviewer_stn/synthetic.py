"""Synthetic training pairs for the STN: random textured images and random affines with known answers.

An image is smooth random noise at two or three scales, partly quantised into a few flat regions
with sharp edges (organ-like), blurred and noised, sometimes inside a circular field of view (as in
fundus photographs). The moving image is that image; the fixed image is it resampled through a
random affine ``theta``: fixed(x) = moving(theta x), so ``theta`` is the true fixed -> moving map
(both cropped from a canvas twice as large, so that neither shows the warp's zero padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from regviewer_stn.network import Pair, warp_affine


@dataclass(frozen=True)
class SynthSettings:
    """Ranges of the random affines (normalised coordinates: the image spans -1..1) and image noise."""

    max_rotation_deg: float = 20.0
    max_scaling: float = 0.15
    max_shear: float = 0.08
    max_translation: float = 0.2
    noise_std: float = 0.03
    circle_fraction: float = 0.3


def random_images(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """[B, 1, size, size] textured images in 0..1."""
    image = torch.zeros(batch, 1, size, size)
    for coarse in (4, 8, 16):
        weight = torch.rand(batch, 1, 1, 1, generator=generator)
        noise = torch.rand(batch, 1, coarse, coarse, generator=generator)
        image += weight * F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    low = image.amin(dim=(2, 3), keepdim=True)
    high = image.amax(dim=(2, 3), keepdim=True)
    image = (image - low) / (high - low).clamp_min(1e-6)
    levels = torch.randint(3, 8, (batch, 1, 1, 1), generator=generator).float()
    flat = torch.floor(image * levels) / levels
    values = torch.rand(batch, 1, 9, generator=generator)
    mapped = torch.gather(values.expand(-1, 1, -1), 2, (flat * levels).long().clamp(0, 8).view(batch, 1, -1)).view_as(
        image
    )
    mix = torch.rand(batch, 1, 1, 1, generator=generator)
    return (mix * mapped + (1 - mix) * image).clamp(0, 1)


def random_affines(batch: int, settings: SynthSettings, generator: torch.Generator) -> torch.Tensor:
    """[B, 2, 3] random fixed -> moving affines (rotation, anisotropic scaling, shear, translation)."""

    def uniform(limit: float, shape=(batch,)) -> torch.Tensor:
        return (torch.rand(shape, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(settings.max_rotation_deg))
    scale = torch.exp(uniform(math.log1p(settings.max_scaling), (batch, 2)))
    shear = uniform(settings.max_shear)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shearing = torch.eye(2).repeat(batch, 1, 1)
    shearing[:, 0, 1] = shear
    matrix = rotation @ torch.diag_embed(scale) @ shearing
    return torch.cat([matrix, uniform(settings.max_translation, (batch, 2)).unsqueeze(-1)], -1)


def circle_masks(batch: int, size: int, generator: torch.Generator, fraction: float) -> torch.Tensor:
    """[B, 1, size, size]: a centred disc for about ``fraction`` of the batch, all ones for the rest."""
    axis = torch.linspace(-1, 1, size)
    radius = torch.sqrt(axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2)
    disc = (radius <= 0.95).float().expand(batch, 1, size, size)
    chosen = (torch.rand(batch, 1, 1, 1, generator=generator) < fraction).float()
    return chosen * disc + (1 - chosen)


def make_pairs(canvas: torch.Tensor, settings: SynthSettings, generator: torch.Generator) -> Pair:
    """Pairs from ``canvas`` [B, 1, 2S, 2S]: the moving image is its central S x S crop, the fixed image
    the same crop of the canvas moved by a random affine. Cropping keeps the zero padding of the warp
    out of both images (the network cannot read the answer from the border); a circular field of view
    is then applied to both, at the same place, as a fundus camera does."""
    batch, size = canvas.shape[0], canvas.shape[-1] // 2
    theta = random_affines(batch, settings, generator)  # in the crop's normalised coordinates
    on_canvas = torch.cat([theta[:, :, :2], theta[:, :, 2:] / 2], -1)  # the crop's coordinates are twice the canvas's
    centre = slice(size // 2, size // 2 + size)
    fixed = warp_affine(canvas, on_canvas)[..., centre, centre]
    moving = canvas[..., centre, centre]
    disc = circle_masks(batch, size, generator, settings.circle_fraction)
    noise = lambda x: (x + settings.noise_std * torch.randn(x.shape, generator=generator)).clamp(0, 1)  # noqa: E731
    return Pair(noise(fixed) * disc, noise(moving) * disc, theta)
