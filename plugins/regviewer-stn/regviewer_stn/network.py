"""The spatial-transformer network (torch; imported only when the method runs or trains).

``AffineSTN`` takes the fixed and moving images stacked as two channels on a square grid of
``size`` pixels and regresses the 2 x 3 matrix ``theta`` of ``torch.nn.functional.affine_grid``
(``align_corners=False``): a fixed -> moving map in normalised coordinates, x and y in [-1, 1].
The last layer starts at zero around the identity, so an untrained network predicts "no motion".
Files hold tensors and plain values only and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from regviewer.api import RegViewerError, atomic_path

FORMAT = "regviewer-stn-affine"
VERSION = 1
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class STNConfig:
    """The architecture: input ``size`` (square, pixels) and the channels of each stride-2 convolution."""

    size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 64)
    hidden: int = 128

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "channels": list(self.channels), "hidden": self.hidden}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> STNConfig:
        config = cls(
            int(values.get("size", 64)),
            tuple(int(c) for c in values.get("channels", (16, 32, 64, 64))),
            int(values.get("hidden", 128)),
        )
        if config.size < 16 or config.size % (2 ** len(config.channels)) != 0:
            raise RegViewerError(f"[model] size {config.size} must be >= 16 and divisible by 2^{len(config.channels)}")
        return config


class AffineSTN(nn.Module):
    """Two-channel image pair -> affine ``theta`` [B, 2, 3] (fixed -> moving, normalised coordinates)."""

    def __init__(self, config: STNConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = 2
        for channels in config.channels:
            layers += [
                nn.Conv2d(previous, channels, 3, stride=2, padding=1),
                nn.GroupNorm(4, channels),
                nn.LeakyReLU(0.2),
            ]
            previous = channels
        self.features = nn.Sequential(*layers)
        cells = (config.size // 2 ** len(config.channels)) ** 2
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(previous * cells, config.hidden), nn.LeakyReLU(0.2), nn.Linear(config.hidden, 6)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("identity", torch.tensor(IDENTITY).view(1, 2, 3))

    def forward(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        """``fixed``, ``moving``: [B, 1, size, size] in about 0..1 -> theta [B, 2, 3]."""
        return self.identity + self.head(self.features(torch.cat([fixed, moving], 1))).view(-1, 2, 3)


def warp_affine(image: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``image`` resampled through ``theta`` on its own grid: out(x) = image(theta x)."""
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def ncc_loss(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """1 - normalised cross-correlation per pair (masked), averaged over the batch (0 = perfect)."""
    weights = torch.ones_like(a) if mask is None else mask
    total = weights.sum(dim=(1, 2, 3)).clamp_min(1.0)

    def centred(x: torch.Tensor) -> torch.Tensor:
        return (x - (x * weights).sum(dim=(1, 2, 3), keepdim=True) / total.view(-1, 1, 1, 1)) * weights

    ca, cb = centred(a), centred(b)
    correlation = (ca * cb).sum(dim=(1, 2, 3)) / (
        (ca * ca).sum(dim=(1, 2, 3)) * (cb * cb).sum(dim=(1, 2, 3))
    ).clamp_min(1e-8).sqrt()
    return (1.0 - correlation).mean()


def grid_error(theta: torch.Tensor, truth: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Mean squared distance (normalised units) between the grids of two affines: the supervised term."""
    shape = [theta.shape[0], 1, size, size]
    return (
        ((F.affine_grid(theta, shape, align_corners=False) - F.affine_grid(truth, shape, align_corners=False)) ** 2)
        .sum(-1)
        .mean()
    )


def model_payload(network: AffineSTN, training: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": network.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "training": training or {},
    }


def save_model(network: AffineSTN, path: Path, training: dict[str, Any] | None = None) -> Path:
    """Write a model file atomically (weights and plain values only)."""
    with atomic_path(path) as temporary:
        torch.save(model_payload(network, training), temporary)
    return path


def load_model(path: str | Path) -> tuple[AffineSTN, dict[str, Any]]:
    """A network from a model file, refusing anything but tensors and plain values."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RegViewerError(f"STN model file not found: {path}") from None
    except Exception as error:
        raise RegViewerError(f"{Path(path).name}: not a loadable STN model ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RegViewerError(
            f"{Path(path).name}: not an STN affine model (format {payload.get('format') if isinstance(payload, dict) else '?'})"
        )
    network = AffineSTN(STNConfig.from_dict(payload["model"]))
    network.load_state_dict(payload["state_dict"])
    network.eval()
    return network, dict(payload.get("training", {}))


@dataclass
class Pair:
    """A batch of training pairs with their true fixed -> moving affines."""

    fixed: torch.Tensor
    moving: torch.Tensor
    theta: torch.Tensor
    extra: dict[str, Any] = field(default_factory=dict)
