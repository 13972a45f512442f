"""One way to run a registration, for the CLI (``regviewer register``) and the window alike.

``RunSession`` turns a ``Workspace`` (images, label maps, masks, the shown transform) and a
``RunPlan`` (stages, which masks and labels to use, where to start, landmark pairs) into the frozen
``Request`` the engine gets and the ``EvaluationData`` its result is scored on, records the run in
the ``RunHistory``, and runs it with the one run protocol (``registration.run_protocol``: every
exception a failed result, progress throttled, warnings collected). The window runs prepared runs
in a worker thread or the engine child process; the CLI calls ``run`` directly.

Figures come in two steps when label maps are scored (``figures_in_steps``): Dice per label first
(about a second even with 116 labels on 7 M voxels), then the complete figures (image metrics,
Jacobian, TRE, HD95 per label), which can take a minute on large label maps. Neither holds back
the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regviewer.app.run_history import RunHistory, RunRecord
from regviewer.app.workspace import Workspace
from regviewer.core.colour import automatic_mask, registration_channel
from regviewer.core.errors import RegViewerError
from regviewer.core.evaluation import EvaluationData, before_after
from regviewer.core.landmark_fit import fit
from regviewer.core.progress import CancelToken, ProgressEvent
from regviewer.core.transforms import Transform
from regviewer.registration.base import Request, Result
from regviewer.registration.pipeline import Stage, validate_stages
from regviewer.registration.registry import Registry, default_registry
from regviewer.registration.run_protocol import (  # noqa: F401  (re-exported: the one run protocol)
    BATCH_S,
    PREVIEW_S,
    ProgressThrottle,
    failed_result,
    failure_message,
    figures_in_steps,
    quick_figures,
    result_warnings,
    run_guarded,
)

START_NONE, START_CURRENT, START_LANDMARKS = "none", "current", "landmarks"
logger = logging.getLogger("regviewer.run")


@dataclass(frozen=True, eq=False)
class RunPlan:
    """What to run and with which inputs.

    Attributes:
        stages: the chain of stages.
        title: how the history names the run; preset: the preset's name (None: single method / chain).
        mask_roles: "fixed" / "moving": restrict the metric to that side's mask (the workspace's mask,
            else its label map > 0).
        use_labels: give the label maps to the engine and score Dice / HD95.
        start: START_NONE, START_CURRENT (the workspace's transform), START_LANDMARKS (an affine fit to
            the landmark pairs), an earlier run's id, or a Transform.
        start_label: how the history names an explicit Transform start (e.g. its file).
        fixed_points, moving_points: complete active landmark pairs (LPS mm) or None.
        score_labels: the label values scored (None: all).
        mask_label: how the history names the mask choice.
        channel: the colour channel to register ("luminance", "red", "green", "blue") when either
            image is in colour; None registers the arrays as loaded. Grey images ignore it.
        auto_mask: an automatic mask kind (a preset's "mask", e.g. "fov") computed from each image
            that has no mask of its own (a mask of ``mask_roles`` wins).
    """

    stages: tuple[Stage, ...]
    title: str = ""
    preset: str | None = None
    mask_roles: tuple[str, ...] = ()
    use_labels: bool = False
    start: Any = START_NONE
    start_label: str = ""
    fixed_points: np.ndarray | None = None
    moving_points: np.ndarray | None = None
    score_labels: Sequence[int] | None = None
    mask_label: str = ""
    channel: str | None = None
    auto_mask: str | None = None


@dataclass(frozen=True, eq=False)
class PreparedRun:
    """A run ready to go: its history record, the engine's request and what the result is scored on."""

    record: RunRecord
    stages: tuple[Stage, ...]
    request: Request
    evaluation: EvaluationData


class RunSession:
    """Builds, records and runs registrations of one workspace (see the module docstring)."""

    def __init__(
        self, workspace: Workspace, history: RunHistory | None = None, registry: Registry | None = None
    ) -> None:
        self.workspace = workspace
        self.history = history if history is not None else RunHistory()
        self.registry = registry

    # ---- building -----------------------------------------------------------------------------
    def start_transform(self, plan: RunPlan) -> tuple[Transform | None, str]:
        """(initial transform, how the history names it); RegViewerError when it cannot be had."""
        choice = plan.start
        if isinstance(choice, Transform):
            return choice, plan.start_label or "the given transform"
        if choice == START_LANDMARKS:
            if plan.fixed_points is None or len(plan.fixed_points) == 0:
                raise RegViewerError("Place complete landmark pairs first (Landmarks tab), or choose another start.")
            return fit(
                "affine", plan.fixed_points, plan.moving_points
            ), f"an affine fit to {len(plan.fixed_points)} landmark pairs"
        if choice == START_CURRENT:
            return self.workspace.transform, "the transform shown at the start"
        if isinstance(choice, int) and not isinstance(choice, bool):
            record = self.history.get(choice)
            if record is None or record.result is None:
                raise RegViewerError(f"run #{choice} has no result to start from")
            return record.result.transform, f"run #{choice}"
        return None, "the method's own start"

    def mask(self, side: str, plan: RunPlan):  # noqa: ANN201
        """The mask of one side: the workspace's mask image, else its label map (non-zero voxels)."""
        if side not in plan.mask_roles:
            return None
        workspace = self.workspace
        mask = workspace.image(f"{side}_mask")
        return mask if mask is not None else workspace.image(f"{side}_labels")

    def prepare(self, plan: RunPlan, validate: bool = True) -> PreparedRun:
        """The request, the evaluation data and a (not yet recorded) history record for ``plan``."""
        workspace = self.workspace
        if not workspace.ready:
            raise RegViewerError("Open a fixed and a moving image first.")
        stages = tuple(plan.stages)
        if validate:
            validate_stages(stages, self.registry or default_registry())
        fixed, moving = workspace.fixed, workspace.moving
        channel = plan.channel if fixed.colour is not None or moving.colour is not None else None
        if channel is not None:  # the colour stays for display; the array is the chosen channel
            fixed, moving = registration_channel(fixed, channel), registration_channel(moving, channel)
            logger.info(
                "colour images: registered on the %s", channel if channel == "luminance" else f"{channel} channel"
            )
        fixed_mask, moving_mask = self.mask("fixed", plan), self.mask("moving", plan)
        mask_label = plan.mask_label
        if plan.auto_mask is not None:
            automatic = [side for side, mask in (("fixed", fixed_mask), ("moving", moving_mask)) if mask is None]
            if "fixed" in automatic:
                fixed_mask = automatic_mask(fixed, plan.auto_mask)
            if "moving" in automatic:
                moving_mask = automatic_mask(moving, plan.auto_mask)
            mask_label = _auto_mask_label(plan.mask_label, plan.auto_mask, automatic)
        fixed_labels = workspace.fixed_labels if plan.use_labels else None
        moving_labels = workspace.moving_labels if plan.use_labels else None
        initial, start_label = self.start_transform(plan)
        request = Request(
            fixed,
            moving,
            {},
            fixed_mask,
            moving_mask,
            plan.fixed_points,
            plan.moving_points,
            initial,
            fixed_labels,
            moving_labels,
        )
        evaluation = EvaluationData(
            fixed,
            moving,
            fixed_mask,
            fixed_labels,
            moving_labels,
            plan.fixed_points,
            plan.moving_points,
            plan.score_labels,
        )
        title = plan.title or ",".join(stage.method for stage in stages)
        record = RunRecord(
            run_id=self.history.next_id,
            title=title,
            preset=plan.preset,
            stages=stages,
            start_label=start_label,
            initial_transform=initial,
            mask_label=mask_label,
            sources=dict(workspace.sources),
            mask_roles=tuple(plan.mask_roles),
            use_labels=plan.use_labels,
            fixed_landmarks=plan.fixed_points,
            moving_landmarks=plan.moving_points,
            images=(workspace.fixed, workspace.moving),  # the images shown: the result belongs to them
            channel=channel,
            auto_mask=plan.auto_mask,
            label_channels={
                role: workspace.source_options(role)["label_channel"]
                for role in ("fixed_labels", "moving_labels")
                if "label_channel" in workspace.source_options(role)
            },
        )
        return PreparedRun(record, stages, request, evaluation)

    def begin(self, plan: RunPlan) -> PreparedRun:
        """``prepare`` and add the record to the history (its id is taken)."""
        prepared = self.prepare(plan)
        self.history.new_id()
        self.history.add(prepared.record)
        return prepared

    # ---- running (blocking: the CLI, scripts) ------------------------------------------------
    def run(self, prepared: PreparedRun, progress: Callable[[ProgressEvent], None], cancel: CancelToken) -> Result:
        """Run in this thread; the result goes into the history (figures: see ``evaluate``)."""
        result = run_guarded(prepared.stages, prepared.request, progress, cancel, self.registry)
        self.history.set_result(prepared.record.run_id, result)
        return result

    def evaluate(self, prepared: PreparedRun, complete: bool = True) -> dict:
        """Score the run's result (all figures, or only the quick ones) and record them."""
        result = prepared.record.result
        if result is None or result.status == "failed":
            raise RegViewerError("the run has no result to score")
        evaluation = prepared.evaluation
        quick = not complete and evaluation.fixed_labels is not None and evaluation.moving_labels is not None
        figures = quick_figures(result.transform, evaluation) if quick else before_after(result.transform, evaluation)
        self.history.set_figures(prepared.record.run_id, figures)
        return figures


def _auto_mask_label(user_label: str, kind: str, sides: Sequence[str]) -> str:
    """How the history names the masks when a preset's automatic mask filled in ``sides``."""
    what = {"fov": "field of view"}.get(kind, kind)
    if not sides:
        return user_label or "the given masks"
    if len(sides) == 2:
        return f"{what} (automatic, from the preset)"
    given = user_label if user_label and user_label != "No mask" else "the given mask"
    return f"{given}; {what} of the {sides[0]} image (automatic, from the preset)"
