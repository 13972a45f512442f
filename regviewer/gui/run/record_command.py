"""The ``regviewer register ...`` line that reproduces a run of the history ("Copy as command").

Inputs that exist only in memory (an initial transform, landmarks, per-stage edits that ``--param``
cannot express) are written to the run's folder first; the images must come from files.
"""

from __future__ import annotations

from pathlib import Path

from regviewer.gui.run.history import RunRecord
from regviewer.registration import command_line
from regviewer.registration.registry import Registry


def record_command(record: RunRecord, runs_folder: Path, registry: Registry) -> str:
    """The shell line for ``record``; ValueError when an input was not loaded from a file."""
    folder = runs_folder / f"run-{record.run_id:03d}"
    sources = record.sources
    needed = {"fixed": "fixed", "moving": "moving"}
    if record.use_labels:
        needed.update(fixed_labels="fixed labels", moving_labels="moving labels")
    for role in record.mask_roles:
        needed[f"{role}_labels"] = f"{role} labels"
    missing = [what for role, what in needed.items() if not sources.get(role)]
    if missing:
        raise ValueError(f"the {', '.join(missing)} were not loaded from files, so no command can name them")
    channels = record.label_channels
    for side in record.mask_roles:
        if f"{side}_labels" in channels:  # --fixed-mask reads a plain file, not one channel of a 4D one
            raise ValueError(
                f"the {side} mask comes from one channel of a 4D label file, which --{side}-mask cannot read; "
                "run without the mask, or save the label map as an ordinary file first"
            )
    written = command_line.write_run_inputs(
        folder, record.initial_transform, record.fixed_landmarks, record.moving_landmarks
    )
    spec = command_line.RunSpec(
        stages=record.stages,
        fixed=sources.get("fixed"),
        moving=sources.get("moving"),
        output=str(folder / "output"),
        preset=record.preset,
        fixed_mask=sources.get("fixed_labels") if "fixed" in record.mask_roles else None,
        moving_mask=sources.get("moving_labels") if "moving" in record.mask_roles else None,
        fixed_labels=sources.get("fixed_labels") if record.use_labels else None,
        moving_labels=sources.get("moving_labels") if record.use_labels else None,
        fixed_labels_channel=channels.get("fixed_labels"),
        moving_labels_channel=channels.get("moving_labels"),
        fixed_landmarks=written.get("fixed_landmarks"),
        moving_landmarks=written.get("moving_landmarks"),
        init=written.get("init"),
        chain_file=str(folder / command_line.CHAIN_FILE),
        channel=record.channel,
        auto_mask=record.auto_mask,
    )
    if command_line.needs_chain_file(spec, registry):
        command_line.write_chain_file(record.stages, spec.chain_file, record.title, registry, record.auto_mask)
    return command_line.shell_line(command_line.command_arguments(spec, registry))
