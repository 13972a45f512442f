"""The training loop of ``regviewer train``: checkpoints, a loss log and resumable runs.

Each step draws a batch of pairs, either synthetic (SynthMorph-style, Dice loss on the random
labels: contrast-agnostic) or made from the real images of the configuration (random deformations
and intensity changes of one image, or of two different images; LNCC or MSE similarity, plus Dice
when the images have label maps), predicts the displacement, and minimises
``similarity + dice + supervised + smoothness * diffusion(displacement)``, where "supervised" is
the squared error to the true displacement, known whenever the pair was made from one image (or
one synthetic label map) by a known random deformation.

Files in the output folder:

- ``checkpoint.pt``: weights, optimiser state, step, random state and the configuration, written
  every ``checkpoint_every`` steps, at the end, and when the run is interrupted; ``resume`` picks
  up from it (the random stream continues, so a resumed run draws the pairs it would have drawn).
- ``loss_log.csv``: one row per logged step (step, loss terms, seconds per step).
- ``model.pt``: the final network as a self-describing model file (see ``model_io``).

All files hold tensors and plain values only: they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import csv
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from regviewer.core.errors import RegViewerError
from regviewer.core.io import read_image
from regviewer.core.progress import CancelToken
from regviewer.registration.network_grid import model_grid, to_model_grid
from regviewer.registration.torch_backend import ops, synth
from regviewer.registration.torch_backend.model_io import model_payload, safe_torch_load, save_atomically
from regviewer.registration.torch_backend.train_config import TrainConfig
from regviewer.registration.torch_backend.unet import VelocityUNet

CHECKPOINT = "checkpoint.pt"
LOSS_LOG = "loss_log.csv"
MODEL = "model.pt"
CROP_MARGIN = 4  # voxels left out of the similarity / Dice terms at the edges of a training crop
LOG_COLUMNS = ("step", "loss", "similarity", "dice", "supervised", "smoothness", "synthetic", "seconds_per_step")


@dataclass
class RealImage:
    """A training image on the model grid (0..1) with optional one-hot labels."""

    image: torch.Tensor
    onehot: torch.Tensor | None


@dataclass
class TrainingOutcome:
    """What a training run did."""

    steps_done: int
    final_loss: float
    model_path: Path
    checkpoint_path: Path
    log_path: Path
    resumed_from: int
    interrupted: bool


def load_real_images(config: TrainConfig, device: torch.device) -> list[RealImage]:
    """Every image of the configuration normalised and resampled onto its model grid."""
    loaded = []
    for entry in config.images:
        image = read_image(entry.image)
        if image.ndim != len(config.shape):
            raise RegViewerError(f"{entry.image.name} is {image.ndim}D but the model is {len(config.shape)}D")
        grid = model_grid(image.geometry, config.shape)
        array = to_model_grid(image, grid)
        onehot = None
        if entry.labels is not None:
            labels = read_image(entry.labels, is_label=True)
            label_array = to_model_grid(labels, grid, is_label=True).astype(np.int64)
            values = np.unique(label_array)
            index = np.searchsorted(values, label_array)
            onehot = synth.one_hot(torch.from_numpy(index)[None, None], len(values)).to(device)
        loaded.append(RealImage(torch.from_numpy(array)[None, None].to(device), onehot))
    return loaded


class Trainer:
    """One training run (fresh or resumed) of the configuration's network."""

    def __init__(self, config: TrainConfig, output_dir: Path | None = None, device: torch.device | None = None) -> None:
        self.config = config
        self.output_dir = Path(output_dir or config.output_dir)
        self.device = device or torch.device("cpu")
        if config.optim.threads > 0:
            torch.set_num_threads(config.optim.threads)
        torch.manual_seed(config.optim.seed)
        self.model = VelocityUNet(config.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.optim.learning_rate)
        self.generator = torch.Generator().manual_seed(config.optim.seed)
        self.chooser = random.Random(config.optim.seed)
        self.step = 0
        self.real = load_real_images(config, self.device) if config.images else []

    # ---- checkpoints ---------------------------------------------------------------------------
    def checkpoint_payload(self) -> dict:
        return {
            "format": "regviewer-training-checkpoint",
            "step": self.step,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "chooser": list(self.chooser.getstate()[1]),
            "chooser_version": self.chooser.getstate()[0],
            "chooser_gauss": self.chooser.getstate()[2] if self.chooser.getstate()[2] is not None else float("nan"),
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self) -> Path:
        path = self.output_dir / CHECKPOINT
        save_atomically(self.checkpoint_payload(), path)
        return path

    def resume(self) -> int:
        """Load ``checkpoint.pt`` of the output folder; returns the step reached (0 when there is none)."""
        path = self.output_dir / CHECKPOINT
        if not path.is_file():
            return 0
        state = safe_torch_load(path)
        if not isinstance(state, dict) or state.get("format") != "regviewer-training-checkpoint":
            raise RegViewerError(f"{path}: not a RegViewer training checkpoint")
        saved = state["config"]
        if saved.get("model") != self.config.model.to_dict() or list(saved.get("shape", [])) != list(self.config.shape):
            raise RegViewerError(
                f"{path}: the checkpoint was trained with another network or shape ({saved.get('model')}, {saved.get('shape')}); "
                "use a new output folder or the same [model] settings"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        gauss = state["chooser_gauss"]
        self.chooser.setstate(
            (
                int(state["chooser_version"]),
                tuple(int(v) for v in state["chooser"]),
                None if math.isnan(gauss) else gauss,
            )
        )
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        return self.step

    # ---- one step ------------------------------------------------------------------------------
    def _batch(
        self,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, bool]:
        synthetic = not self.real or self.chooser.random() < self.config.synth_fraction
        pairs = [self._pair(synthetic) for _ in range(self.config.optim.batch_size)]
        moving, fixed, moving_labels, fixed_labels, truth = zip(*pairs)
        with_labels = (
            all(labels is not None for labels in moving_labels) and len({labels.shape for labels in moving_labels}) == 1
        )
        return (
            torch.cat(moving),
            torch.cat(fixed),
            torch.cat(moving_labels) if with_labels else None,
            torch.cat(fixed_labels) if with_labels else None,
            torch.cat(truth) if all(item is not None for item in truth) else None,
            synthetic,
        )

    def _pair(self, synthetic: bool):
        config = self.config
        with torch.no_grad():
            if synthetic:
                shape = config.optim.crop or config.shape
                return synth.synthetic_pair(shape, config.synth, config.deformation, self.generator, self.device)
            if config.pairs == "listed":  # the images are (moving, fixed) pairs in order
                first = 2 * self.chooser.randrange(len(self.real) // 2)
                second = first + 1
            else:
                across = config.pairs == "across" or (config.pairs == "both" and self.chooser.random() < 0.5)
                first = self.chooser.randrange(len(self.real))
                second = first
                if across and len(self.real) > 1:
                    second = self.chooser.choice([k for k in range(len(self.real)) if k != first])
            moving, fixed = self.real[first], self.real[second]
            labels_fit = (
                moving.onehot is not None and fixed.onehot is not None and moving.onehot.shape == fixed.onehot.shape
            )
            crop = config.optim.crop or None
            corner = tuple(self.chooser.randint(0, n - c) for n, c in zip(config.shape, crop)) if crop else None
            return synth.real_pair(
                moving.image,
                fixed.image,
                config.deformation,
                self.generator,
                moving_onehot=moving.onehot if labels_fit else None,
                fixed_onehot=fixed.onehot if labels_fit else None,
                corner=corner,
                window_shape=crop,
            )

    def train_step(self) -> dict[str, float]:
        """One optimisation step; returns the loss terms."""
        moving, fixed, moving_labels, fixed_labels, truth, synthetic = self._batch()
        loss_settings = self.config.loss
        displacement = self.model(moving, fixed)
        terms: dict[str, torch.Tensor] = {}
        # On crops, the warped image reads zeros where the field points out of the window: score the interior only.
        inner = _interior(displacement.dim() - 2, CROP_MARGIN if self.config.optim.crop else 0)
        if not synthetic and loss_settings.similarity_weight > 0:
            warped = ops.warp(moving, displacement)[inner]
            fixed = fixed[inner]
            if loss_settings.similarity == "lncc":
                terms["similarity"] = loss_settings.similarity_weight * ops.lncc_loss(
                    warped, fixed, loss_settings.lncc_window
                )
            else:
                terms["similarity"] = loss_settings.similarity_weight * ops.mse_loss(warped, fixed)
        if moving_labels is not None and loss_settings.dice_weight > 0:
            terms["dice"] = loss_settings.dice_weight * ops.dice_loss(
                ops.warp(moving_labels, displacement)[inner], fixed_labels[inner]
            )
        if truth is not None and loss_settings.supervised_weight > 0:
            error = ((displacement - truth)[inner] ** 2).sum(dim=1).mean()
            terms["supervised"] = loss_settings.supervised_weight * error
        terms["smoothness"] = loss_settings.smoothness_weight * ops.diffusion_loss(displacement)
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        values = {name: float(value.detach()) for name, value in terms.items()}
        values["loss"] = float(loss.detach())
        values["synthetic"] = float(synthetic)
        return values

    # ---- the run -------------------------------------------------------------------------------
    def run(
        self, resume: bool = False, report: Callable[[str], None] = print, cancel: CancelToken | None = None
    ) -> TrainingOutcome:
        """Train up to ``steps`` (continuing from the checkpoint when ``resume``); Ctrl+C saves and stops."""
        cancel = cancel or CancelToken()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.output_dir / LOSS_LOG
        resumed_from = self.resume() if resume else 0
        if not resume and (self.output_dir / CHECKPOINT).exists():
            raise RegViewerError(
                f"{self.output_dir} already holds a training run; pass --resume to continue it or choose another --output"
            )
        if resumed_from:
            report(f"resuming from step {resumed_from} ({self.output_dir / CHECKPOINT})")
            _truncate_log(log_path, resumed_from)
        elif log_path.exists():
            log_path.unlink()
        total = self.config.optim.steps
        report(
            f"training a {self.config.model.ndim}D network on {self.config.shape} for {total} steps "
            f"({len(self.real)} real image(s), synthetic fraction {self.config.synth_fraction:g}) -> {self.output_dir}"
        )
        self.model.train()
        last: dict[str, float] = {}
        accumulated: list[dict[str, float]] = []
        interrupted = False
        started = time.perf_counter()
        try:
            while self.step < total:
                if cancel.cancelled:
                    interrupted = True
                    break
                last = self.train_step()
                accumulated.append(last)
                if self.step % self.config.optim.log_every == 0 or self.step == total:
                    seconds = (time.perf_counter() - started) / len(accumulated)
                    _append_log(log_path, self.step, accumulated, seconds)
                    report(
                        f"step {self.step}/{total}: loss {np.mean([row['loss'] for row in accumulated]):.4f} ({seconds:.2f} s/step)"
                    )
                    accumulated, started = [], time.perf_counter()
                if self.step % self.config.optim.checkpoint_every == 0:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            interrupted = True
        checkpoint = self.save_checkpoint()
        model_path = self.output_dir / MODEL
        if not interrupted:
            summary = {
                "steps": self.step,
                "final_loss": last.get("loss", float("nan")),
                "config": self.config.to_dict(),
            }
            save_atomically(model_payload(self.model.eval(), self.config.shape, summary), model_path)
            report(f"done: {model_path}")
        else:
            report(f"interrupted at step {self.step}; resume with --resume ({checkpoint})")
        return TrainingOutcome(
            self.step, last.get("loss", float("nan")), model_path, checkpoint, log_path, resumed_from, interrupted
        )


def _interior(ndim: int, margin: int) -> tuple[slice, ...]:
    return (slice(None), slice(None)) + (slice(margin, -margin if margin else None),) * ndim


def _append_log(path: Path, step: int, rows: list[dict[str, float]], seconds: float) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(LOG_COLUMNS)

        def mean(name: str) -> str:
            values = [row[name] for row in rows if name in row]
            return f"{np.mean(values):.6f}" if values else ""

        writer.writerow(
            [
                step,
                mean("loss"),
                mean("similarity"),
                mean("dice"),
                mean("supervised"),
                mean("smoothness"),
                mean("synthetic"),
                f"{seconds:.4f}",
            ]
        )


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows past ``step`` (written after the checkpoint a resumed run starts from)."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= step] if rows else []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(kept)


def train(
    config: TrainConfig,
    output_dir: Path | None = None,
    resume: bool = False,
    report: Callable[[str], None] = print,
    device: str = "cpu",
    cancel: CancelToken | None = None,
) -> TrainingOutcome:
    """Train the configuration's network (see ``Trainer``); ``cancel`` stops it after the current step."""
    return Trainer(config, output_dir, ops.pick_device(device)).run(resume=resume, report=report, cancel=cancel)
