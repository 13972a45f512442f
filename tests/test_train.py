"""``regviewer train``: tiny real runs (a few steps), checkpoints, loss log, resume, config errors."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest
import torch

from regviewer.cli.train import run_train
from regviewer.core.errors import RegViewerError
from regviewer.registration.torch_backend.model_io import load_model, safe_torch_load
from regviewer.registration.torch_backend.train_config import TrainConfigError, read_config

TINY = """
[model]
shape = [32, 32]
encoder = [4, 8, 8]
decoder = [8, 8]
force_features = true

[data]
images = [{images}]
synth_fraction = 0.5

[synth]
labels = 4

[deformation]
max_displacement_voxels = 2.0
control_spacing_voxels = 8.0

[training]
steps = {steps}
checkpoint_every = 2
log_every = 1
seed = 5
learning_rate = 0.01
{extra}
[output]
dir = "run"
"""


def _config(
    folder: Path, shared_data: Path | None = None, steps: int = 4, extra: str = "", name: str = "tiny.toml"
) -> Path:
    images = f'"{shared_data / "brain2d" / "r27slice.jpg"}"' if shared_data else ""
    path = folder / name
    path.write_text(TINY.format(images=images, steps=steps, extra=extra), encoding="utf-8")
    return path


def _train(config: Path, output: Path | None = None, resume: bool = False, steps: int | None = None) -> int:
    return run_train(
        argparse.Namespace(
            config=str(config), output=str(output) if output else None, resume=resume, steps=steps, device="cpu"
        )
    )


def _log_steps(folder: Path) -> list[int]:
    with open(folder / "loss_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(float(row["loss"]) >= 0 for row in rows)
    return [int(row["step"]) for row in rows]


def test_train_writes_checkpoint_log_and_a_loadable_model(tmp_path, shared_data):
    assert _train(_config(tmp_path, shared_data)) == 0
    run = tmp_path / "run"
    assert _log_steps(run) == [1, 2, 3, 4]
    checkpoint = safe_torch_load(run / "checkpoint.pt")
    assert checkpoint["step"] == 4 and checkpoint["config"]["shape"] == [32, 32]
    model = load_model(run / "model.pt")
    assert model.ndim == 2 and model.shape == (32, 32)
    moving, fixed = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    assert model.module(moving, fixed).shape == (1, 2, 32, 32)


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, shared_data):
    """4 steps + resume to 6 gives the same weights as 6 steps at once (the random stream is restored)."""
    config = _config(tmp_path, shared_data)
    assert _train(config, tmp_path / "straight", steps=6) == 0
    assert _train(config, tmp_path / "resumed", steps=4) == 0
    assert _train(config, tmp_path / "resumed", resume=True, steps=6) == 0
    assert _log_steps(tmp_path / "resumed") == [1, 2, 3, 4, 5, 6]
    straight = safe_torch_load(tmp_path / "straight" / "model.pt")["state_dict"]
    resumed = safe_torch_load(tmp_path / "resumed" / "model.pt")["state_dict"]
    for name, tensor in straight.items():
        assert torch.allclose(tensor, resumed[name], atol=1e-6), name


def test_synthetic_only_run_with_crops(tmp_path):
    config = _config(tmp_path, None, steps=2, extra="crop = [24, 24]")
    assert read_config(config).synth_fraction == 1.0  # no images: purely synthetic
    assert _train(config) == 0
    assert _log_steps(tmp_path / "run") == [1, 2]


def test_existing_run_needs_resume(tmp_path):
    config = _config(tmp_path, None, steps=1)
    assert _train(config) == 0
    with pytest.raises(RegViewerError, match="--resume"):
        _train(config)


@pytest.mark.parametrize(
    "change, message",
    [
        (("shape = [32, 32]", "shape = [32]"), "shape must list 2 or 3 sizes"),
        (("encoder = [4, 8, 8]", "encoder = [4, 8, 8]\nwidth = 3"), "unknown model setting"),
        (("labels = 4", "labels = 1"), "labels must be at least 2"),
        (("steps = 1", "steps = 0"), "must be >= 1"),
        (("log_every = 1", "log_every = 1\ncrop = [64, 64]"), "crop must give"),
        (("images = []", 'images = ["missing.nii.gz"]'), "image not found"),
        (("[data]", '[data]\npairs = "random"'), "pairs must be one of"),
    ],
)
def test_bad_configurations_are_explained(tmp_path, change, message):
    path = _config(tmp_path, None, steps=1)
    text = path.read_text().replace(*change)
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(TrainConfigError, match=message):
        read_config(path)


def test_json_configuration_and_unreadable_files(tmp_path):
    (tmp_path / "c.json").write_text(
        '{"model": {"shape": [16, 16], "encoder": [4, 4], "decoder": [4]}, "training": {"steps": 1}}'
    )
    config = read_config(tmp_path / "c.json")
    assert config.shape == (16, 16) and config.model.encoder == (4, 4)
    (tmp_path / "broken.toml").write_text("[model\nshape = ")
    with pytest.raises(TrainConfigError, match="not valid TOML"):
        read_config(tmp_path / "broken.toml")
    with pytest.raises(TrainConfigError, match="not found"):
        read_config(tmp_path / "absent.toml")


def test_cli_train_command(tmp_path, capsys):
    from regviewer.cli.main import main

    config = _config(tmp_path, None, steps=1)
    assert main(["train", "--config", str(config), "-o", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "model.pt").is_file()
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "training configuration not found" in capsys.readouterr().err


@pytest.mark.skipif(
    not hasattr(__import__("os"), "fork"),
    reason="POSIX only: starts the child with SIGINT ignored through preexec_fn, which Windows lacks",
)
@pytest.mark.parametrize("number", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_after_the_step_with_a_checkpoint(tmp_path, number):
    """``kill`` (SIGTERM), or Ctrl-C to a job a script started in the background (which inherits SIGINT
    ignored), ends training with its checkpoint and exit status 130, not a lost run."""
    import signal
    import subprocess
    import sys

    config = _config(tmp_path, None, steps=100000)
    process = subprocess.Popen(
        [sys.executable, "-m", "regviewer", "train", "--config", str(config), "-o", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        for line in process.stdout:
            if line.startswith("step 3/"):
                break
        process.send_signal(getattr(signal, number))
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "stopping after this step" in err
    step = safe_torch_load(tmp_path / "run" / "checkpoint.pt")["step"]
    assert 3 <= step < 100000
    assert not (tmp_path / "run" / "model.pt").exists()
