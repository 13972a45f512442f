"""Training configurations for ``regviewer train`` (TOML or JSON files, plain-language errors).

A configuration has these sections (every key but ``model.ndim`` / ``model.shape`` has a default;
paths are relative to the configuration file)::

    [model]        ndim, shape (numpy order), encoder, decoder, integration_steps, velocity_downsize
    [data]         images = ["a.nii.gz", {image = "b.npz", labels = "b.npz"}, ...]
                   pairs = "same" | "across" | "both" | "listed"; synth_fraction = 0..1
                   ("listed": the images are (moving, fixed) pairs in order: 1st -> 2nd, 3rd -> 4th ...,
                   e.g. MR -> ultrasound pairs weakly supervised by their labels with similarity_weight = 0)
    [synth]        labels, blob_spacing_voxels, noise_std, blur_sigma_voxels, bias_strength
    [deformation]  max_displacement_voxels, control_spacing_voxels, max_rotation_deg, max_scaling,
                   max_translation_voxels
    [loss]         similarity = "lncc" | "mse", similarity_weight, dice_weight, smoothness_weight,
                   supervised_weight, lncc_window
    [training]     steps, batch_size, learning_rate, seed, checkpoint_every, log_every, threads, crop
    [output]       dir

With no images, training is purely synthetic (``synth_fraction`` is then 1).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from regviewer.core.errors import RegViewerError
from regviewer.registration.torch_backend.synth import DeformationSettings, SynthSettings
from regviewer.registration.torch_backend.unet import UNetConfig

PAIR_MODES = ("same", "across", "both", "listed")
SIMILARITIES = ("lncc", "mse")


class TrainConfigError(RegViewerError):
    """A training configuration that cannot be used (missing keys, wrong values, unreadable file)."""


@dataclass(frozen=True)
class ImageEntry:
    """One training image, with an optional label map (a Dice term for real pairs)."""

    image: Path
    labels: Path | None = None


@dataclass(frozen=True)
class LossSettings:
    similarity: str = "lncc"
    similarity_weight: float = 1.0
    dice_weight: float = 1.0
    smoothness_weight: float = 1.0
    supervised_weight: float = 0.0  # squared error (voxels^2) to the known displacement of one-image pairs
    lncc_window: int = 9


@dataclass(frozen=True)
class OptimSettings:
    steps: int = 1000
    batch_size: int = 1
    learning_rate: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0  # 0: torch's default
    crop: tuple[int, ...] = ()  # train on random crops of this shape (numpy order); () = the whole model shape


@dataclass(frozen=True)
class TrainConfig:
    """A whole, validated training configuration."""

    model: UNetConfig
    shape: tuple[int, ...]
    images: tuple[ImageEntry, ...] = ()
    pairs: str = "both"
    synth_fraction: float = 0.5
    synth: SynthSettings = field(default_factory=SynthSettings)
    deformation: DeformationSettings = field(default_factory=DeformationSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    output_dir: Path = Path("runs/model")
    source: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (stored in checkpoints and model files)."""
        return {
            "model": self.model.to_dict(),
            "shape": list(self.shape),
            "data": {
                "images": [
                    {"image": str(entry.image), "labels": str(entry.labels) if entry.labels else None}
                    for entry in self.images
                ],
                "pairs": self.pairs,
                "synth_fraction": self.synth_fraction,
            },
            "synth": {**asdict(self.synth), "blob_spacing_voxels": list(self.synth.blob_spacing_voxels)},
            "deformation": asdict(self.deformation),
            "loss": asdict(self.loss),
            "training": {**asdict(self.optim), "crop": list(self.optim.crop)},
        }


def _section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise TrainConfigError(f"[{name}] must be a table of settings, got {value!r}")
    return dict(value)


def _settings(cls: type, values: Mapping[str, Any], section: str) -> Any:
    known = {item.name: item for item in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TrainConfigError(f"[{section}]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    converted = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        try:
            if isinstance(default, bool) or isinstance(default, str):
                converted[name] = type(default)(value)
            elif isinstance(default, int):
                if isinstance(value, float) and value != int(value):
                    raise ValueError("a whole number is expected")
                converted[name] = int(value)
            elif isinstance(default, float):
                converted[name] = float(value)
            elif isinstance(default, tuple):
                kind = int if name == "crop" else float
                converted[name] = tuple(kind(item) for item in value)
            else:
                converted[name] = value
        except (TypeError, ValueError) as error:
            raise TrainConfigError(f"[{section}] {name}: {value!r} is not valid ({error})") from None
    return cls(**converted)


def _image_entries(values: Any, folder: Path) -> tuple[ImageEntry, ...]:
    if not isinstance(values, list):
        raise TrainConfigError("[data] images must be a list of paths or {image = ..., labels = ...} tables")
    entries = []
    for item in values:
        if isinstance(item, str):
            image, labels = item, None
        elif isinstance(item, Mapping) and isinstance(item.get("image"), str):
            image, labels = item["image"], item.get("labels")
        else:
            raise TrainConfigError(f"[data] images: {item!r} is neither a path nor a table with 'image'")
        image_path = (folder / image).resolve()
        if not image_path.exists():
            raise TrainConfigError(f"[data] image not found: {image_path}")
        labels_path = None
        if labels:
            labels_path = (folder / labels).resolve()
            if not labels_path.exists():
                raise TrainConfigError(f"[data] labels not found: {labels_path}")
        entries.append(ImageEntry(image_path, labels_path))
    return tuple(entries)


def parse_config(raw: Mapping[str, Any], folder: Path, source: Path | None = None) -> TrainConfig:
    """A ``TrainConfig`` from the parsed TOML / JSON content; relative paths are taken from ``folder``."""
    model = _section(raw, "model")
    shape = model.pop("shape", None)
    if not isinstance(shape, list) or len(shape) not in (2, 3) or not all(isinstance(n, int) and n >= 8 for n in shape):
        raise TrainConfigError(
            f"[model] shape must list 2 or 3 sizes of at least 8 (numpy order: z, y, x), got {shape!r}"
        )
    model.setdefault("ndim", len(shape))
    try:
        architecture = UNetConfig.from_dict(model)
    except (TypeError, ValueError) as error:
        raise TrainConfigError(f"[model]: {error}") from None
    except RegViewerError as error:
        raise TrainConfigError(f"[model]: {error}") from None
    if architecture.ndim != len(shape):
        raise TrainConfigError(f"[model] ndim is {architecture.ndim} but shape has {len(shape)} sizes")
    data = _section(raw, "data")
    unknown = sorted(set(data) - {"images", "pairs", "synth_fraction"})
    if unknown:
        raise TrainConfigError(f"[data]: unknown setting(s) {', '.join(unknown)}; known: images, pairs, synth_fraction")
    images = _image_entries(data.get("images", []), folder)
    pairs = str(data.get("pairs", "both"))
    if pairs not in PAIR_MODES:
        raise TrainConfigError(f"[data] pairs must be one of {', '.join(PAIR_MODES)}, got {pairs!r}")
    if pairs == "listed" and (not images or len(images) % 2):
        raise TrainConfigError(
            f'[data] pairs = "listed" needs an even number of images (moving, fixed, moving, fixed ...), got {len(images)}'
        )
    synth_fraction = 1.0 if not images else float(data.get("synth_fraction", 0.5))
    if not 0.0 <= synth_fraction <= 1.0:
        raise TrainConfigError(f"[data] synth_fraction must be between 0 and 1, got {synth_fraction}")
    loss = _settings(LossSettings, _section(raw, "loss"), "loss")
    if loss.similarity not in SIMILARITIES:
        raise TrainConfigError(f"[loss] similarity must be one of {', '.join(SIMILARITIES)}, got {loss.similarity!r}")
    optim = _settings(OptimSettings, _section(raw, "training"), "training")
    if (
        optim.steps < 1
        or optim.batch_size < 1
        or optim.learning_rate <= 0
        or optim.checkpoint_every < 1
        or optim.log_every < 1
    ):
        raise TrainConfigError(
            "[training] steps, batch_size, checkpoint_every and log_every must be >= 1 and learning_rate > 0"
        )
    if optim.crop and (len(optim.crop) != len(shape) or any(c < 8 or c > n for c, n in zip(optim.crop, shape))):
        raise TrainConfigError(
            f"[training] crop must give {len(shape)} sizes between 8 and the model shape {shape}, got {list(optim.crop)}"
        )
    synth = _settings(SynthSettings, _section(raw, "synth"), "synth")
    if synth.labels < 2:
        raise TrainConfigError("[synth] labels must be at least 2")
    output = _section(raw, "output")
    output_dir = (folder / str(output.get("dir", "runs/model"))).resolve()
    return TrainConfig(
        model=architecture,
        shape=tuple(shape),
        images=images,
        pairs=pairs,
        synth_fraction=synth_fraction,
        synth=synth,
        deformation=_settings(DeformationSettings, _section(raw, "deformation"), "deformation"),
        loss=loss,
        optim=optim,
        output_dir=output_dir,
        source=source,
    )


def read_config(path: str | Path) -> TrainConfig:
    """Read a ``.toml`` or ``.json`` training configuration."""
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"training configuration not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise TrainConfigError(
            f"{path.name}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}"
        ) from None
    return parse_config(raw, path.resolve().parent, path.resolve())
