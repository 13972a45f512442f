"""The run history: every registration run of the session with what it used and how it scored.

A ``RunRecord`` keeps the stages, the start (initial transform), the inputs it named (files, mask,
landmarks) and, once known, the ``Result``, the before / after figures (the CLI's metrics.json
numbers) and the warnings a user must see (a folding field, a metric worse than before, a stage
that diverged). Failed runs stay with their message. ``RunHistory`` is the ordered list with
events; the window's History panel shows it, session files store its ``snapshot``.

Figures may arrive in two steps: first Dice per label (``figures["partial"]`` is True) within a
second or two, then the complete ones (image metrics, Jacobian, TRE, HD95 per label).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal

from regviewer.core.transforms import Transform
from regviewer.registration.base import Result
from regviewer.registration.pipeline import Stage
from regviewer.registration.run_protocol import result_warnings

# (key in the figures, label, digits); the same names as metrics.json and the CLI summary.
FIGURES = (
    ("ncc", "NCC", 4),
    ("mi", "MI", 4),
    ("mse", "MSE", 4),
    ("dice_mean", "Dice (mean)", 4),
    ("hd95_mean_mm", "HD95 (mm)", 3),
    ("tre_mean_mm", "TRE mean (mm)", 3),
    ("tre_max_mm", "TRE max (mm)", 3),
    ("jacobian_min", "Jacobian min", 3),
    ("folded_pct", "Folded (%)", 3),
)
SNAPSHOT_VERSION = 1


@dataclass
class RunRecord:
    """One run of the session (mutable: the result and figures arrive later)."""

    run_id: int
    title: str
    preset: str | None
    stages: tuple[Stage, ...]
    start_label: str
    initial_transform: Transform | None
    mask_label: str
    sources: dict[str, str | None]
    mask_roles: tuple[str, ...] = ()  # "fixed" / "moving": label maps used as masks (non-zero voxels)
    use_labels: bool = False  # label maps passed to the engine and scored
    fixed_landmarks: np.ndarray | None = None
    moving_landmarks: np.ndarray | None = None
    images: tuple = ()  # the (fixed, moving) Images registered: its transform belongs to them
    result: Result | None = None
    figures: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    command: str = ""
    channel: str | None = None  # the colour channel registered ("green" ...); None: grey images, or as loaded
    auto_mask: str | None = None  # the preset's automatic mask ("fov") when it asked for one
    label_channels: dict[str, Any] = field(default_factory=dict)  # role -> channel read of a 4D label file

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else "running"

    @property
    def warnings(self) -> list[str]:
        """What the engine flagged and what the figures show (see run_protocol.result_warnings)."""
        figures = self.figures if self.figures is not None and "error" not in self.figures else None
        return result_warnings(self.result, figures)

    @property
    def figures_pending(self) -> bool:
        """The run ended and its (complete) figures are still being computed."""
        if self.status not in ("completed", "cancelled"):
            return False
        return self.figures is None or bool(self.figures.get("partial"))

    def summary(self) -> str:
        """Two lines for the list (three with warnings): what ran and how it went."""
        duration = f"  {self.result.runtime_s:.1f} s" if self.result is not None else ""
        warnings = self.warnings
        flag = f"  -  {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if warnings else ""
        first = f"#{self.run_id}  {self.title}  -  {self.status}{duration}{flag}"
        if self.figures is None:
            second = (
                "figures: computing..."
                if self.status in ("completed", "cancelled")
                else (self.result.message if self.result else "")
            )
        elif "error" in self.figures:
            second = f"figures failed: {self.figures['error']}"
        else:
            parts = []
            for key, label, digits in (
                ("ncc", "NCC", 3),
                ("dice_mean", "Dice", 3),
                ("tre_mean_mm", "TRE", 2),
                ("folded_pct", "fold %", 2),
            ):
                before, after = self.figures["before"].get(key), self.figures["after"].get(key)
                if after is not None:
                    parts.append(
                        f"{label} {_number(before, digits)} -> {_number(after, digits)}"
                        if before is not None
                        else f"{label} {_number(after, digits)}"
                    )
            second = "   ".join(parts)
        text = f"{first}\n{second[:140]}"
        if warnings:
            text += f"\nwarning: {warnings[0][:130]}"
        return text

    def details(self) -> str:
        """Everything about the run, as plain text (for the details box and bug reports)."""
        lines = [f"Run #{self.run_id}: {self.title}  ({time.strftime('%H:%M:%S', time.localtime(self.started))})"]
        if self.result is not None:
            lines.append(f"Status: {self.result.status} after {self.result.runtime_s:.2f} s")
            if self.result.message:
                lines.append(f"Message: {self.result.message}")
        else:
            lines.append("Status: running")
        for warning in self.warnings:
            lines.append(f"WARNING: {warning}")
        lines.append(f"Start: {self.start_label};  mask: {self.mask_label}")
        if self.channel is not None:
            lines.append(f"Registered on: {self.channel}")
        if self.fixed_landmarks is not None:
            lines.append(f"Landmarks: {len(self.fixed_landmarks)} pairs")
        lines.append("Stages:")
        for index, stage in enumerate(self.stages, 1):
            values = ", ".join(f"{name}={_value(value)}" for name, value in stage.parameters.items())
            lines.append(f"  {index}. {stage.method}: {values or 'defaults'}")
        if self.figures is not None and "error" not in self.figures:
            lines.append(f"{'Figure':<16}{'before':>10}{'after':>10}")
            for key, label, digits in FIGURES:
                before, after = self.figures["before"].get(key), self.figures["after"].get(key)
                if before is not None or after is not None:
                    lines.append(f"{label:<16}{_number(before, digits):>10}{_number(after, digits):>10}")
            if self.figures.get("partial"):
                lines.append("(image metrics, Jacobian, TRE and HD95: computing...)")
        elif self.figures is not None:
            lines.append(f"Figures failed: {self.figures['error']}")
        if self.result is not None:
            lines.append(f"Transform: {self.result.transform.describe()[:300]}")
        if self.command:
            lines.append(f"Command:\n{self.command}")
        return "\n".join(lines)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able description; the transforms are named by ``transform_ref`` (stored as files by the caller)."""

        def points(values):  # noqa: ANN001, ANN202
            return None if values is None else np.asarray(values, dtype=np.float64).tolist()

        result = None
        if self.result is not None:
            result = {
                "method": self.result.method,
                "status": self.result.status,
                "runtime_s": self.result.runtime_s,
                "message": self.result.message,
                "log": list(self.result.log),
                "metric_history": [list(item) for item in self.result.metric_history],
                "transform_ref": transform_ref(self.run_id),
            }
        return {
            "run_id": self.run_id,
            "title": self.title,
            "preset": self.preset,
            "stages": [
                {"method": stage.method, "parameters": _jsonable(dict(stage.parameters))} for stage in self.stages
            ],
            "start_label": self.start_label,
            "has_initial_transform": self.initial_transform is not None,
            "mask_label": self.mask_label,
            "sources": dict(self.sources),
            "mask_roles": list(self.mask_roles),
            "use_labels": self.use_labels,
            "fixed_landmarks": points(self.fixed_landmarks),
            "moving_landmarks": points(self.moving_landmarks),
            "result": result,
            "figures": _jsonable(self.figures),
            "warnings": self.warnings,
            "started": self.started,
            "command": self.command,
            "channel": self.channel,
            "auto_mask": self.auto_mask,
            "label_channels": dict(self.label_channels),
        }

    @classmethod
    def from_snapshot(
        cls, data: Mapping[str, Any], transforms: Mapping[str, Transform] | None = None, images: tuple = ()
    ) -> RunRecord:
        """A record from ``snapshot()``; ``transforms``: {transform_ref: Transform} read back by the caller
        (a finished run whose transform is missing there is restored as failed, saying so)."""
        transforms = transforms or {}
        stages = tuple(Stage(item["method"], _tuples(item.get("parameters", {}))) for item in data.get("stages", []))
        result = None
        stored = data.get("result")
        if stored is not None:
            transform = transforms.get(stored.get("transform_ref", ""))
            status, message = stored.get("status", "failed"), stored.get("message", "")
            if transform is None:
                from regviewer.core.transforms import AffineTransform

                ndim = 3 if not data.get("fixed_landmarks") else len(data["fixed_landmarks"][0])
                transform = AffineTransform.identity(ndim)
                status, message = "failed", f"the transform of this run was not found ({message})".strip()
            result = Result(
                stored.get("method", ""),
                transform,
                status,
                runtime_s=float(stored.get("runtime_s", 0.0)),
                metric_history=tuple(tuple(item) for item in stored.get("metric_history", [])),
                message=message,
                log=tuple(stored.get("log", [])),
            )

        def points(values):  # noqa: ANN001, ANN202
            return None if values is None else np.asarray(values, dtype=np.float64)

        return cls(
            run_id=int(data["run_id"]),
            title=str(data.get("title", "")),
            preset=data.get("preset"),
            stages=stages,
            start_label=str(data.get("start_label", "")),
            initial_transform=transforms.get(f"{transform_ref(int(data['run_id']))}-start"),
            mask_label=str(data.get("mask_label", "")),
            sources=dict(data.get("sources", {})),
            label_channels=dict(data.get("label_channels") or {}),
            mask_roles=tuple(data.get("mask_roles", ())),
            use_labels=bool(data.get("use_labels", False)),
            fixed_landmarks=points(data.get("fixed_landmarks")),
            moving_landmarks=points(data.get("moving_landmarks")),
            images=tuple(images),
            result=result,
            figures=data.get("figures"),
            started=float(data.get("started", time.time())),
            command=str(data.get("command", "")),
            channel=data.get("channel"),
            auto_mask=data.get("auto_mask"),
        )


def transform_ref(run_id: int) -> str:
    """The name under which a run's transform is stored (a session file names its file after it)."""
    return f"run-{run_id:03d}"


class RunHistory:
    """The runs of a session, in order (see the module docstring).

    Events: ``added(RunRecord)``, ``updated(RunRecord)`` (a result, figures or command arrived),
    ``cleared()`` (after ``restore``).
    """

    added = Signal(object)
    updated = Signal(object)
    cleared = Signal()

    def __init__(self) -> None:
        self.records: list[RunRecord] = []
        self.next_id = 1

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):  # noqa: ANN204
        return iter(self.records)

    def new_id(self) -> int:
        run_id, self.next_id = self.next_id, self.next_id + 1
        return run_id

    def add(self, record: RunRecord) -> RunRecord:
        self.records.append(record)
        self.next_id = max(self.next_id, record.run_id + 1)
        self.added.emit(record)
        return record

    def get(self, run_id: int) -> RunRecord | None:
        return next((record for record in self.records if record.run_id == run_id), None)

    def set_result(self, run_id: int, result: Result) -> RunRecord | None:
        record = self.get(run_id)
        if record is not None:
            record.result = result
            self.updated.emit(record)
        return record

    def set_figures(self, run_id: int, figures: dict) -> RunRecord | None:
        """New figures of a run; complete figures are never replaced by partial ones that arrive late."""
        record = self.get(run_id)
        if record is None:
            return None
        if figures.get("partial") and record.figures is not None and not record.figures.get("partial"):
            return record
        record.figures = figures
        self.updated.emit(record)
        return record

    def touch(self, record: RunRecord) -> None:
        """Tell listeners a record changed in another way (e.g. its command)."""
        self.updated.emit(record)

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "next_id": self.next_id,
            "runs": [record.snapshot() for record in self.records],
        }

    def restore(
        self, data: Mapping[str, Any], transforms: Mapping[str, Transform] | None = None, images: tuple = ()
    ) -> None:
        self.records = [RunRecord.from_snapshot(item, transforms, images) for item in data.get("runs", [])]
        self.next_id = max([int(data.get("next_id", 1))] + [record.run_id + 1 for record in self.records])
        self.cleared.emit()
        for record in self.records:
            self.added.emit(record)


def _number(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _value(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)


def _jsonable(value: Any) -> Any:
    """Tuples to lists, numpy numbers to Python ones, recursively."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _tuples(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Lists of a JSON document back to the tuples parameter values use."""
    return {name: tuple(value) if isinstance(value, list) else value for name, value in parameters.items()}
