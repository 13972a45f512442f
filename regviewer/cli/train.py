"""``regviewer train --config FILE``: train a VoxelMorph-style network (torch is imported only here, on use)."""

from __future__ import annotations

import argparse
from pathlib import Path

from regviewer.cli.interrupt import cancel_on_signals
from regviewer.core.progress import CancelToken


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a registration network (VoxelMorph-style, or a plugin's: trainer = NAME) from a TOML / JSON configuration",
        description="Train a VoxelMorph-style registration network on real images and/or synthetic "
        "SynthMorph-style pairs. Writes OUT/checkpoint.pt, OUT/loss_log.csv and, at the end, OUT/model.pt "
        "(usable as --param model=OUT/model.pt with --method network). Ctrl+C saves a checkpoint; --resume continues.",
    )
    parser.add_argument("--config", required=True, help="training configuration (.toml or .json)")
    parser.add_argument("-o", "--output", help="output folder (default: [output] dir of the configuration)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in the output folder")
    parser.add_argument("--steps", type=int, help="override [training] steps (total, including resumed steps)")
    parser.add_argument(
        "--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"), help="where to train (default: cpu)"
    )


def run_train(args: argparse.Namespace) -> int:
    """Run the ``train`` subcommand; returns the exit status (0, or 130 when interrupted)."""
    from dataclasses import replace

    from regviewer.core.errors import RegViewerError
    from regviewer.registration.trainers import TrainOptions, run_plugin_training

    options = TrainOptions(
        Path(args.config), Path(args.output) if args.output else None, args.resume, args.steps, args.device
    )
    if (status := run_plugin_training(options, lambda line: print(line, flush=True))) is not None:
        return status  # a configuration naming a plugin's trainer (trainer = "...")
    try:
        import torch  # noqa: F401  (only to give a clear message when it is missing)
    except ImportError:
        raise RegViewerError("training needs PyTorch: pip install 'regviewer[torch]' (see the README)") from None
    from regviewer.registration.torch_backend.train_config import read_config
    from regviewer.registration.torch_backend.training import train

    config = read_config(args.config)
    if args.steps is not None:
        if args.steps < 1:
            raise RegViewerError("--steps must be at least 1")
        config = replace(config, optim=replace(config.optim, steps=args.steps))
    cancel = CancelToken()
    with cancel_on_signals(cancel, "stopping after this step (a checkpoint is saved; --resume continues)"):
        outcome = train(
            config,
            Path(args.output) if args.output else None,
            resume=args.resume,
            report=lambda line: print(line, flush=True),
            device=args.device,
            cancel=cancel,
        )
    return 130 if outcome.interrupted else 0
