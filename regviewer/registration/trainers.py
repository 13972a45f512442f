"""Training added by plugins: ``regviewer train --config FILE`` for methods other than the built-in U-Net.

A configuration whose top level says ``trainer = "stn-affine"`` (TOML) or ``"trainer": "stn-affine"``
(JSON) is handed to the trainer registered under that name in the entry-point group
``regviewer.trainers``; a configuration without that key is a VoxelMorph configuration, trained by
RegViewer itself. A trainer is a callable ``train(options: TrainOptions, report) -> int`` returning
the exit status (0, or 130 when interrupted), where ``report(line)`` prints one progress line.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from regviewer.core.errors import RegViewerError

GROUP = "regviewer.trainers"


@dataclass(frozen=True)
class TrainOptions:
    """What ``regviewer train`` was asked to do.

    Attributes:
        config: the configuration file (TOML or JSON).
        output: output folder given with -o, or None (the configuration's own).
        resume: continue the run saved in the output folder.
        steps: total number of steps overriding the configuration's, or None.
        device: "auto", "cpu", "cuda" or "mps".
    """

    config: Path
    output: Path | None = None
    resume: bool = False
    steps: int | None = None
    device: str = "cpu"


Trainer = Callable[[TrainOptions, Callable[[str], None]], int]


def trainer_name(config: str | Path) -> str | None:
    """The ``trainer`` key of a configuration file, or None when it has none (or cannot be read: the
    built-in trainer then reports what is wrong with it)."""
    path = Path(config)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    name = raw.get("trainer") if isinstance(raw, dict) else None
    return str(name) if name is not None else None


def find_trainer(name: str, entry_points: list[metadata.EntryPoint] | None = None) -> Trainer:
    """The trainer registered as ``name``; a clear error when none is, or when it fails to load."""
    found = list(metadata.entry_points(group=GROUP)) if entry_points is None else entry_points
    for entry in found:
        if entry.name == name:
            try:
                trainer = entry.load()
            except Exception as error:
                raise RegViewerError(
                    f"the trainer {name!r} ({entry.value}) failed to load: {type(error).__name__}: {error}"
                ) from None
            if not callable(trainer):
                raise RegViewerError(f"the trainer {name!r} ({entry.value}) is not callable")
            return trainer
    available = sorted(entry.name for entry in found)
    raise RegViewerError(
        f"no trainer {name!r} is installed; installed trainers: {', '.join(available) or 'none'} "
        "(leave out 'trainer' to train the built-in VoxelMorph network)"
    )


def run_plugin_training(options: TrainOptions, report: Callable[[str], None]) -> int | None:
    """Run the plugin trainer named in ``options.config``; None when the configuration names none."""
    name = trainer_name(options.config)
    if name is None:
        return None
    return int(find_trainer(name)(options, report))
