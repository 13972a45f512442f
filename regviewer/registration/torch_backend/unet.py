"""A small VoxelMorph-style U-Net that predicts a stationary velocity field (2D or 3D).

The network takes the moving and the fixed image (one channel each, already on one grid and
normalised to 0..1) and returns a displacement field in VOXEL units of that grid, channels in
array-axis order ((z, y, x) in 3D, (y, x) in 2D): exactly what ``ops.warp`` expects, so that
``warp(moving, displacement)`` is the moving image registered to the fixed one.

Layout (VoxelMorph, Balakrishnan et al. 2019, with its ``int_downsize`` option):

- encoder: one 3x3(x3) convolution per level, stride 2 from the second level on, LeakyReLU(0.2);
- decoder: upsample by 2, concatenate the encoder features of that level, convolve; it stops at
  the resolution ``1 / velocity_downsize`` of the input, which is where the velocity is predicted
  (half resolution by default: four times cheaper in 2D, eight times in 3D, and smooth anyway);
- a velocity head initialised near zero (a fresh model starts close to the identity), integration
  by scaling and squaring (``ops.integrate_velocity``), then linear upsampling of the displacement
  to the input grid (values rescaled to the finer voxels).

Inputs of any shape are accepted: they are padded to a multiple of ``2 ** (levels - 1)`` and the
result is cropped back. The architecture is described by ``UNetConfig`` (a plain dict on disk,
stored beside the weights), so a checkpoint can always rebuild its own network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from regviewer.core.errors import RegViewerError
from regviewer.registration.torch_backend import ops


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a ``VelocityUNet``.

    Attributes:
        ndim: 2 or 3.
        encoder: feature counts of the encoder levels, finest first (one level per entry).
        decoder: feature counts of the decoder convolutions, coarsest first; the decoder climbs
            ``log2(velocity_downsize)`` levels fewer than the encoder descends, plus extra
            convolutions at the velocity resolution for any remaining entries.
        integration_steps: scaling-and-squaring steps (0: the velocity is used as a displacement).
        velocity_downsize: 1 or 2: resolution of the predicted velocity relative to the input.
        force_features: also feed the network the demons force ``(fixed - moving) * grad(moving)`` (one
            channel per axis) and ``|grad(moving)|^2``: the first-order answer to "which way does each
            voxel move", which a freshly initialised U-Net otherwise takes thousands of steps to find.
        demons_skip: add a smoothed, normalised demons step (Thirion's force, times a learned gain per
            axis) to the predicted velocity: the network starts as one demons iteration per pass and
            learns the correction on top of it (trainable in minutes on a CPU).
    """

    ndim: int = 3
    encoder: tuple[int, ...] = (16, 32, 32, 32)
    decoder: tuple[int, ...] = (32, 32, 32, 16)
    integration_steps: int = 7
    velocity_downsize: int = 2
    force_features: bool = False
    demons_skip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder", tuple(int(n) for n in self.encoder))
        object.__setattr__(self, "decoder", tuple(int(n) for n in self.decoder))
        if self.ndim not in (2, 3):
            raise RegViewerError(f"model ndim must be 2 or 3, got {self.ndim}")
        if self.velocity_downsize not in (1, 2):
            raise RegViewerError(f"velocity_downsize must be 1 or 2, got {self.velocity_downsize}")
        if len(self.encoder) < 2 or min(self.encoder) < 1:
            raise RegViewerError("the encoder needs at least two levels of positive feature counts")
        if len(self.decoder) < self.ups or min(self.decoder, default=1) < 1:
            raise RegViewerError(f"the decoder needs at least {self.ups} positive feature counts for this encoder")

    @property
    def ups(self) -> int:
        """Decoder levels that upsample (from the coarsest level to the velocity resolution)."""
        return len(self.encoder) - 1 - (1 if self.velocity_downsize == 2 else 0)

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this."""
        return 2 ** (len(self.encoder) - 1)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["encoder"], values["decoder"] = list(self.encoder), list(self.decoder)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> UNetConfig:
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise RegViewerError(f"unknown model setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))


def _conv(ndim: int, in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    conv = (nn.Conv2d if ndim == 2 else nn.Conv3d)(in_channels, out_channels, 3, stride=stride, padding=1)
    return nn.Sequential(conv, nn.LeakyReLU(0.2))


class VelocityUNet(nn.Module):
    """U-Net: (moving, fixed) -> displacement in voxels of the input grid (see the module docstring)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        ndim = config.ndim
        self.encoder = nn.ModuleList()
        channels = 2 + (ndim + 1 if config.force_features else 0)
        skips = []
        for level, features in enumerate(config.encoder):
            self.encoder.append(_conv(ndim, channels, features, stride=1 if level == 0 else 2))
            channels = features
            skips.append(features)
        self.decoder = nn.ModuleList()
        for up in range(config.ups):
            skip = skips[len(skips) - 2 - up]
            self.decoder.append(_conv(ndim, channels + skip, config.decoder[up]))
            channels = config.decoder[up]
        self.extra = nn.ModuleList()
        for features in config.decoder[config.ups :]:
            self.extra.append(_conv(ndim, channels, features))
            channels = features
        head = (nn.Conv2d if ndim == 2 else nn.Conv3d)(channels, ndim, 3, padding=1)
        nn.init.normal_(head.weight, 0.0, 1e-5)
        nn.init.zeros_(head.bias)
        self.velocity_head = head
        if config.demons_skip:
            self.demons_gain = nn.Parameter(torch.ones(ndim))

    def velocity(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """The velocity field in voxels of the velocity grid (input size / velocity_downsize)."""
        features = torch.cat(
            [moving, fixed] + (force_features(moving, fixed) if self.config.force_features else []), dim=1
        )
        skips = []
        for block in self.encoder:
            features = block(features)
            skips.append(features)
        mode = "bilinear" if self.config.ndim == 2 else "trilinear"
        for up, block in enumerate(self.decoder):
            skip = skips[len(skips) - 2 - up]
            features = F.interpolate(features, size=skip.shape[2:], mode=mode, align_corners=False)
            features = block(torch.cat([features, skip], dim=1))
        for block in self.extra:
            features = block(features)
        velocity = self.velocity_head(features)
        if self.config.demons_skip:
            step = ops.rescale_displacement(ops.gaussian_blur(demons_force(moving, fixed), 1.0), velocity.shape[2:])
            velocity = velocity + self.demons_gain.view(1, -1, *([1] * self.config.ndim)) * step
        return velocity

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """Displacement [B, ndim, *S] in voxels of the input grid (array-axis order) for inputs [B, 1, *S]."""
        if moving.shape != fixed.shape or moving.dim() != self.config.ndim + 2 or moving.shape[1] != 1:
            raise RegViewerError(
                f"the model expects moving and fixed as [batch, 1, {'z, y, x' if self.config.ndim == 3 else 'y, x'}] "
                f"tensors of one shape, got {tuple(moving.shape)} and {tuple(fixed.shape)}"
            )
        shape = moving.shape[2:]
        padding = _padding(shape, self.config.multiple)
        if any(padding):
            moving, fixed = F.pad(moving, padding), F.pad(fixed, padding)
        velocity = self.velocity(moving, fixed)
        displacement = (
            ops.integrate_velocity(velocity, self.config.integration_steps)
            if self.config.integration_steps > 0
            else velocity
        )
        padded_shape = moving.shape[2:]
        if tuple(displacement.shape[2:]) != tuple(padded_shape):
            displacement = ops.rescale_displacement(displacement, padded_shape)
        if any(padding):
            displacement = displacement[(slice(None), slice(None)) + tuple(slice(0, n) for n in shape)]
        return displacement


def force_features(moving: torch.Tensor, fixed: torch.Tensor) -> list[torch.Tensor]:
    """``(fixed - moving) * d moving / d axis`` per array axis, and ``|grad moving|^2`` (central differences, x4 scaled)."""
    ndim = moving.dim() - 2
    gradients = torch.gradient(moving, dim=tuple(range(2, 2 + ndim)))
    difference = fixed - moving
    return [4.0 * difference * gradient for gradient in gradients] + [
        4.0 * sum(gradient * gradient for gradient in gradients)
    ]


def demons_force(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """Thirion's demons step ``(f - m) grad(m) / (|grad m|^2 + (f - m)^2)`` (voxels, array-axis order, |step| <= 0.5)."""
    ndim = moving.dim() - 2
    gradient = torch.cat(torch.gradient(moving, dim=tuple(range(2, 2 + ndim))), dim=1)
    difference = fixed - moving
    return difference * gradient / ((gradient * gradient).sum(dim=1, keepdim=True) + difference * difference + 1e-4)


def _padding(shape: torch.Size, multiple: int) -> list[int]:
    """F.pad arguments (last axis first) padding each axis at its end up to a multiple of ``multiple``."""
    padding: list[int] = []
    for size in reversed(tuple(shape)):
        padding += [0, (-int(size)) % multiple]
    return padding


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
