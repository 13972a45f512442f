"""``regviewer train --config stn.toml`` for the STN (the configuration says ``trainer = "stn-affine"``).

Configuration (TOML or JSON; every key has a default; paths relative to the file)::

    trainer = "stn-affine"
    [model]     size = 64, channels = [16, 32, 64, 64], hidden = 128
    [synth]     max_rotation_deg, max_scaling, max_shear, max_translation, noise_std, circle_fraction
    [data]      images = ["a.png", ...] (optional real 2D images), skimage = ["camera", ...] (scikit-image's
                bundled sample pictures, read offline), synth_fraction = 0..1 (share of batches made
                from random textures rather than from those images; the pairs are always synthetic:
                an image and its copy moved by a random affine)
    [loss]      similarity_weight = 1.0 (1 - NCC of the warped pair), supervised_weight = 1.0 (squared
                grid distance to the known affine of the synthetic pair; 0 trains on similarity alone)
    [training]  steps, batch_size, learning_rate, seed, checkpoint_every, log_every, threads
    [output]    dir

Writes OUT/checkpoint.pt (every ``checkpoint_every`` steps, at the end and on Ctrl+C), OUT/loss_log.csv
and OUT/model.pt (use it with ``--param model=OUT/model.pt``). ``--resume`` continues from the
checkpoint. Every file is written atomically and holds tensors and plain values only.
"""

from __future__ import annotations

import csv
import io
import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from regviewer.api import RegViewerError, TrainOptions, atomic_path, read_image, write_text_atomic
from regviewer_stn.synthetic import SynthSettings

SKIMAGE_SAMPLES = (
    "camera",
    "moon",
    "coins",
    "text",
    "page",
    "clock",
    "brick",
    "grass",
    "gravel",
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "retina",
    "rocket",
    "horse",
)
LOG_COLUMNS = ("step", "loss", "similarity", "supervised", "seconds_per_step")


@dataclass(frozen=True)
class Settings:
    steps: int = 2000
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    threads: int = 0
    similarity_weight: float = 1.0
    supervised_weight: float = 1.0
    synth_fraction: float = 1.0


@dataclass(frozen=True)
class STNTrainConfig:
    model: dict[str, Any]
    synth: SynthSettings
    settings: Settings
    images: tuple[Path, ...] = ()
    skimage: tuple[str, ...] = ()
    output_dir: Path = Path("runs/stn")
    raw: dict[str, Any] = field(default_factory=dict)


def _typed(cls: type, values: dict[str, Any], section: str) -> Any:
    known = {item.name: item for item in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise RegViewerError(f"[{section}]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    try:
        return cls(**{name: type(getattr(cls(), name))(value) for name, value in values.items()})
    except (TypeError, ValueError) as error:
        raise RegViewerError(f"[{section}]: {error}") from None


def read_config(path: Path) -> STNTrainConfig:
    """Parse and check an STN training configuration (one-line errors)."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as error:
        raise RegViewerError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise RegViewerError(
            f"{path.name}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}"
        ) from None
    from regviewer_stn.network import STNConfig

    STNConfig.from_dict(raw.get("model", {}))  # checks the architecture now, not after loading data
    data = dict(raw.get("data", {}))
    settings = _typed(
        Settings,
        {
            **raw.get("training", {}),
            **raw.get("loss", {}),
            **({"synth_fraction": data["synth_fraction"]} if "synth_fraction" in data else {}),
        },
        "training/loss",
    )
    images = tuple((path.parent / image).resolve() for image in data.get("images", []))
    for image in images:
        if not image.is_file():
            raise RegViewerError(f"[data] image not found: {image}")
    samples = tuple(str(name) for name in data.get("skimage", []))
    unknown = [name for name in samples if name not in SKIMAGE_SAMPLES]
    if unknown:
        raise RegViewerError(
            f"[data] skimage: unknown sample(s) {', '.join(unknown)}; known: {', '.join(SKIMAGE_SAMPLES)}"
        )
    if not images and not samples and settings.synth_fraction < 1:
        settings = Settings(**{**asdict(settings), "synth_fraction": 1.0})
    if settings.steps < 1 or settings.batch_size < 1 or settings.learning_rate <= 0:
        raise RegViewerError("[training] steps and batch_size must be >= 1 and learning_rate > 0")
    return STNTrainConfig(
        raw.get("model", {}),
        _typed(SynthSettings, raw.get("synth", {}), "synth"),
        settings,
        images,
        samples,
        (path.parent / str(raw.get("output", {}).get("dir", "runs/stn"))).resolve(),
        raw,
    )


def train_from_options(options: TrainOptions, report: Callable[[str], None]) -> int:
    """The ``regviewer.trainers`` entry point: train, return 0 (or 130 when interrupted)."""
    config = read_config(options.config)
    if options.steps is not None:
        config = STNTrainConfig(
            config.model,
            config.synth,
            Settings(**{**asdict(config.settings), "steps": options.steps}),
            config.images,
            config.skimage,
            config.output_dir,
            config.raw,
        )
    output = options.output or config.output_dir
    return train(config, Path(output), resume=options.resume, device=options.device, report=report)


def _skimage_sample(name: str):
    """One of scikit-image's bundled sample pictures as a grey 2D image (1 mm pixels)."""
    import numpy as np
    from skimage import color, data

    from regviewer.api import Image

    picture = getattr(data, name)()
    if picture.ndim == 3:
        picture = color.rgb2gray(picture[..., :3])
    return Image.from_array(np.asarray(picture, np.float32), name=name)


def _save(payload: dict[str, Any], path: Path) -> None:
    import torch

    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def train(
    config: STNTrainConfig,
    output: Path,
    resume: bool = False,
    device: str = "cpu",
    report: Callable[[str], None] = print,
) -> int:
    """The training loop (see the module notes)."""
    import torch

    from regviewer_stn.grids import on_grid, square_grid
    from regviewer_stn.network import AffineSTN, STNConfig, grid_error, model_payload, ncc_loss, save_model, warp_affine
    from regviewer_stn.synthetic import make_pairs, random_images

    settings = config.settings
    if settings.threads:
        torch.set_num_threads(settings.threads)
    target = torch.device(
        "cpu" if device == "auto" and not torch.cuda.is_available() else ("cuda" if device == "auto" else device)
    )
    architecture = STNConfig.from_dict(config.model)
    network = AffineSTN(architecture).to(target)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.seed)
    pictures = [read_image(path) for path in config.images] + [_skimage_sample(name) for name in config.skimage]
    if any(image.ndim != 2 for image in pictures):
        raise RegViewerError("[data] images must be 2D")
    real = [torch.from_numpy(on_grid(image, square_grid(image.geometry, 2 * architecture.size))) for image in pictures]
    step, rows = 0, []
    checkpoint, log_path = output / "checkpoint.pt", output / "loss_log.csv"
    if resume:
        if not checkpoint.is_file():
            raise RegViewerError(f"nothing to resume: {checkpoint} does not exist")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network.load_state_dict(state["model"]["state_dict"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        step = int(state["step"])
        rows = [{**dict(zip(LOG_COLUMNS, map(float, row))), "step": int(row[0])} for row in state.get("log", [])]
        report(f"resuming from step {step}")
    output.mkdir(parents=True, exist_ok=True)
    training_info = {"config": json.loads(json.dumps(config.raw, default=str)), "synth": asdict(config.synth)}

    def save_checkpoint() -> None:
        _save(
            {
                "model": model_payload(network, training_info),
                "optimiser": optimiser.state_dict(),
                "step": step,
                "generator": generator.get_state(),
                "log": [[row[c] for c in LOG_COLUMNS] for row in rows],
            },
            checkpoint,
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(LOG_COLUMNS)
        writer.writerows([[row[c] for c in LOG_COLUMNS] for row in rows])
        write_text_atomic(log_path, buffer.getvalue())

    report(
        f"training stn-affine ({architecture.size}x{architecture.size}, {sum(p.numel() for p in network.parameters())} weights) "
        f"for {settings.steps} steps on {target}"
    )
    interrupted, started = False, time.perf_counter()
    network.train()
    try:
        while step < settings.steps:
            tick = time.perf_counter()
            moving = random_images(settings.batch_size, 2 * architecture.size, generator)  # canvases (see make_pairs)
            if real and float(torch.rand(1, generator=generator)) >= settings.synth_fraction:
                chosen = torch.randint(len(real), (settings.batch_size,), generator=generator)
                moving = torch.stack([real[int(i)] for i in chosen])[:, None]
            pair = make_pairs(moving, config.synth, generator)
            fixed, moving, truth = pair.fixed.to(target), pair.moving.to(target), pair.theta.to(target)
            theta = network(fixed, moving)
            mask = (warp_affine(torch.ones_like(moving), theta) > 0.99).float() * (fixed > 0).float()
            similarity = ncc_loss(warp_affine(moving, theta), fixed, mask)
            supervised = grid_error(theta, truth)
            loss = settings.similarity_weight * similarity + settings.supervised_weight * supervised
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            if step % settings.log_every == 0 or step == settings.steps:
                rows.append(
                    {
                        "step": step,
                        "loss": loss.item(),
                        "similarity": similarity.item(),
                        "supervised": supervised.item(),
                        "seconds_per_step": time.perf_counter() - tick,
                    }
                )
                report(
                    f"step {step}/{settings.steps}: loss {loss.item():.4f} (1-NCC {similarity.item():.4f}, "
                    f"grid {supervised.item():.5f}), {time.perf_counter() - started:.0f} s"
                )
            if step % settings.checkpoint_every == 0:
                save_checkpoint()
    except KeyboardInterrupt:
        interrupted = True
        report(f"interrupted at step {step}: checkpoint saved, continue with --resume")
    save_checkpoint()
    if not interrupted:
        network.eval()
        save_model(network.cpu(), output / "model.pt", {**training_info, "steps": step})
        report(f"wrote {output / 'model.pt'} (use it with --method stn-affine --param model={output / 'model.pt'})")
    return 130 if interrupted else 0
