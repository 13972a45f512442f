"""``regviewer train`` with listed (moving, fixed) pairs, weakly supervised by their labels (DeepReg style)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from regviewer.core.image import Geometry, Image
from regviewer.core.io import write_image
from regviewer.registration.torch_backend import synth, training
from regviewer.registration.torch_backend.train_config import TrainConfigError, read_config

CONFIG = """
[model]
shape = [16, 16]
encoder = [4, 8]
decoder = [8]

[data]
images = [{images}]
pairs = "listed"
synth_fraction = 0.0

[loss]
similarity_weight = 0.0
dice_weight = 1.0

[training]
steps = 3
log_every = 1
checkpoint_every = 3
threads = 1

[output]
dir = "run"
"""


def _write(folder: Path, count: int) -> Path:
    geometry = Geometry((20, 20), np.ones(2), np.zeros(2), np.eye(2))
    entries = []
    for index in range(count):
        labels = np.zeros((20, 20), np.int16)
        labels[4 + index : 12 + index, 5:14] = 1
        image = np.random.default_rng(index).random((20, 20)).astype(np.float32) + labels
        write_image(Image(image, geometry), folder / f"image{index}.nii.gz")
        write_image(Image(labels, geometry, is_label=True), folder / f"labels{index}.nii.gz")
        entries.append(f'{{image = "image{index}.nii.gz", labels = "labels{index}.nii.gz"}}')
    path = folder / "listed.toml"
    path.write_text(CONFIG.format(images=", ".join(entries)), encoding="utf-8")
    return path


def test_listed_pairs_are_drawn_in_order_and_trained_on_the_dice_only(tmp_path, monkeypatch):
    config = read_config(_write(tmp_path, 4))
    trainer = training.Trainer(config, tmp_path / "run")
    drawn = []
    real_pair = synth.real_pair

    def spy(moving, fixed, *args, **kwargs):
        drawn.append(
            (
                next(k for k, r in enumerate(trainer.real) if r.image is moving),
                next(k for k, r in enumerate(trainer.real) if r.image is fixed),
            )
        )
        return real_pair(moving, fixed, *args, **kwargs)

    monkeypatch.setattr(synth, "real_pair", spy)
    outcome = trainer.run(report=lambda line: None)
    assert outcome.steps_done == 3 and outcome.model_path.is_file()
    assert drawn and set(drawn) <= {(0, 1), (2, 3)}  # image 2k is moved onto image 2k + 1, never across pairs
    with open(outcome.log_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["dice"] and not row["similarity"] for row in rows)  # similarity_weight 0: not computed


def test_listed_pairs_need_an_even_number_of_images(tmp_path):
    with pytest.raises(TrainConfigError, match="even number"):
        read_config(_write(tmp_path, 3))
