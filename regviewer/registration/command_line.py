"""The ``regviewer register ...`` command that reproduces a run made elsewhere (the GUI's "Copy as command").

The CLI sets a ``--param NAME=VALUE`` on every stage that has that parameter, so some chains edited
stage by stage cannot be written with ``--preset`` / ``--method`` and ``--param`` alone. The command is
then built on a preset file (``--preset run/chain.json``) holding the exact stages: the line is always
exact, and as short as the edits allow. Values are written so that parsing them gives back the same
numbers (``repr`` of floats), and the line is quoted for a POSIX shell with ``shlex``.

What is in memory only (an initial transform, landmarks) is written into a run folder first
(``write_run_inputs``); images must come from files (``RunSpec.missing_files`` says which do not).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regviewer.core.errors import RegViewerError
from regviewer.core.transforms import Transform
from regviewer.registration.base import resolve_parameters
from regviewer.registration.pipeline import Stage, override_stages
from regviewer.registration.presets import builtin_presets
from regviewer.registration.registry import Registry, default_registry

CHAIN_FILE = "chain.json"


@dataclass(frozen=True)
class RunSpec:
    """What a run used, as files: the inputs of ``regviewer register``.

    Attributes:
        stages: the stages that ran (parameter values may be partial: defaults fill the rest).
        preset: the preset the stages were started from, if any (gives the shortest command).
        fixed, moving: image files; None when the image was not loaded from a file.
        output: the output folder of the command.
        fixed_mask, moving_mask, fixed_labels, moving_labels, fixed_landmarks, moving_landmarks,
        init: optional files (``--fixed-mask`` ... ``--init``).
        chain_file: where a preset file is written when the stages need one.
        channel: the colour channel registered (``--channel``; None or "luminance": the default).
        fixed_labels_channel, moving_labels_channel: the channel read of a 4D label file (an index or
            "onehot": ``--fixed-labels-channel``); None for an ordinary label map.
        auto_mask: the automatic mask the run used (a preset's ``"mask"``): only a preset (built-in
            or the written chain file) carries it.
    """

    stages: tuple[Stage, ...]
    fixed: str | None
    moving: str | None
    output: str
    preset: str | None = None
    fixed_mask: str | None = None
    moving_mask: str | None = None
    fixed_labels: str | None = None
    moving_labels: str | None = None
    fixed_landmarks: str | None = None
    moving_landmarks: str | None = None
    init: str | None = None
    chain_file: str | None = None
    channel: str | None = None
    auto_mask: str | None = None
    fixed_labels_channel: int | str | None = None
    moving_labels_channel: int | str | None = None

    def missing_files(self) -> list[str]:
        """Roles whose image was not loaded from a file (the command cannot name them)."""
        return [role for role in ("fixed", "moving") if not getattr(self, role)]


def format_value(value: Any) -> str:
    """A parameter value as ``--param`` text that parses back to the same value."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(item) for item in value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _resolved(stages: Sequence[Stage], registry: Registry) -> list[dict[str, Any]]:
    return [resolve_parameters(registry.get(stage.method), stage.parameters) for stage in stages]


def _overrides_for(
    base: Sequence[Stage], stages: Sequence[Stage], target: list[dict[str, Any]], registry: Registry
) -> dict[str, Any] | None:
    """``--param`` values turning ``base`` into ``stages`` (resolved: ``target``); None when ``--param`` cannot."""
    if [stage.method for stage in base] != [stage.method for stage in stages]:
        return None
    start = _resolved(base, registry)
    overrides: dict[str, Any] = {}
    for before, after in zip(start, target):
        for name, value in after.items():
            if before[name] != value:
                if name in overrides and overrides[name] != value:
                    return None  # two stages want different values of one parameter
                overrides[name] = value
    try:
        applied = override_stages(base, overrides, registry) if overrides else list(base)
    except RegViewerError:
        return None
    return overrides if _resolved(applied, registry) == target else None


def command_arguments(spec: RunSpec, registry: Registry | None = None) -> list[str]:
    """The argv of ``regviewer`` (without the program name) that reproduces ``spec``.

    Raises ValueError when an image has no file or a preset file is needed and ``chain_file`` is unset.
    """
    registry = registry or default_registry()
    missing = spec.missing_files()
    if missing:
        raise ValueError(f"the {' and '.join(missing)} image was not loaded from a file, so no command can name it")
    target = _resolved(spec.stages, registry)
    methods = [stage.method for stage in spec.stages]
    choice: list[str] | None = None
    overrides: dict[str, Any] | None = None
    presets = builtin_presets()
    if spec.preset in presets and presets[spec.preset].mask == spec.auto_mask:
        overrides = _overrides_for(presets[spec.preset].stages, spec.stages, target, registry)
        if overrides is not None:
            choice = ["--preset", spec.preset]
    if choice is None and spec.auto_mask is None:  # --method cannot ask for an automatic mask
        overrides = _overrides_for([Stage(method) for method in methods], spec.stages, target, registry)
        if overrides is not None:
            choice = ["--method", ",".join(methods)]
    if choice is None:
        if not spec.chain_file:
            raise ValueError("these stages need a preset file: give RunSpec.chain_file")
        choice, overrides = ["--preset", spec.chain_file], {}
    argv = ["register", spec.fixed, spec.moving, "-o", spec.output, *choice]
    for name, value in (overrides or {}).items():
        argv += ["--param", f"{name}={format_value(value)}"]
    if spec.channel not in (None, "luminance"):
        argv += ["--channel", str(spec.channel)]
    for option in (
        "fixed_mask",
        "moving_mask",
        "fixed_labels",
        "moving_labels",
        "fixed_landmarks",
        "moving_landmarks",
        "init",
    ):
        value = getattr(spec, option)
        if value:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    for side in ("fixed", "moving"):
        channel = getattr(spec, f"{side}_labels_channel")
        if getattr(spec, f"{side}_labels") and channel is not None:
            argv += [f"--{side}-labels-channel", str(channel)]
    return argv


def needs_chain_file(spec: RunSpec, registry: Registry | None = None) -> bool:
    """True when the stages cannot be written with --preset / --method and --param."""
    registry = registry or default_registry()
    target = _resolved(spec.stages, registry)
    presets = builtin_presets()
    if (
        spec.preset in presets
        and presets[spec.preset].mask == spec.auto_mask
        and _overrides_for(presets[spec.preset].stages, spec.stages, target, registry) is not None
    ):
        return False
    if spec.auto_mask is not None:
        return True
    return _overrides_for([Stage(stage.method) for stage in spec.stages], spec.stages, target, registry) is None


def write_chain_file(
    stages: Sequence[Stage],
    path: str | Path,
    label: str = "",
    registry: Registry | None = None,
    auto_mask: str | None = None,
) -> Path:
    """A preset file with every stage's full parameter values (read back by ``--preset PATH``);
    ``auto_mask``: the automatic mask the run used (written as the preset's ``"mask"``)."""
    registry = registry or default_registry()
    path = Path(path)
    document: dict[str, Any] = {
        "label": label or " -> ".join(stage.method for stage in stages),
        "description": "Written by RegViewer to reproduce a run.",
    }
    if auto_mask is not None:
        document["mask"] = auto_mask
    document |= {
        "stages": [
            {
                "method": stage.method,
                "parameters": {
                    name: list(value) if isinstance(value, tuple) else value for name, value in values.items()
                },
            }
            for stage, values in zip(stages, _resolved(stages, registry))
        ],
    }
    from regviewer.core.io.atomic import write_text_atomic

    return write_text_atomic(path, json.dumps(document, indent=1))


def write_run_inputs(
    folder: str | Path,
    initial_transform: Transform | None = None,
    fixed_landmarks: np.ndarray | None = None,
    moving_landmarks: np.ndarray | None = None,
) -> dict[str, str]:
    """Write the in-memory inputs of a run into ``folder``: {"init": path, "fixed_landmarks": ..., ...}."""
    from regviewer.core.io.landmarks_io import write_points_csv
    from regviewer.core.io.transforms_io import write_transform

    folder = Path(folder)
    written: dict[str, str] = {}
    if initial_transform is not None:
        name = "init.tfm" if initial_transform.is_linear else "init.h5"
        written["init"] = str(write_transform(initial_transform, folder / name))
    if fixed_landmarks is not None and moving_landmarks is not None:
        written["fixed_landmarks"] = str(write_points_csv(folder / "fixed_landmarks.csv", fixed_landmarks))
        written["moving_landmarks"] = str(write_points_csv(folder / "moving_landmarks.csv", moving_landmarks))
    return written


def shell_line(argv: Sequence[str], program: str = "regviewer") -> str:
    """The argv as one line for a POSIX shell."""
    return shlex.join([program, *argv])
