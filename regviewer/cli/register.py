"""``regviewer register``, ``regviewer presets`` and ``regviewer demo``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from regviewer.app.run_session import START_NONE, RunPlan, RunSession
from regviewer.app.workspace import Workspace
from regviewer.cli.channel import parse_colour_channel
from regviewer.cli.interrupt import cancel_on_signals
from regviewer.cli.progress_bar import TerminalProgress
from regviewer.core.errors import InputMismatchError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.core.io.file_checks import check_regular_file
from regviewer.core.io.label_channels import parse_label_channel, read_label_map
from regviewer.core.io.output_guard import check_output_folder, check_outputs_are_not_inputs
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.progress import CancelToken
from regviewer.registration.outputs import output_paths, write_result
from regviewer.registration.pipeline import Stage, override_stages, parse_methods, run_chain, validate_stages
from regviewer.registration.presets import builtin_presets, get_preset
from regviewer.registration.registry import default_registry

SUMMARY_KEYS = (
    "ncc",
    "mi",
    "mse",
    "ssim",
    "dice_mean",
    "hd95_mean_mm",
    "tre_mean_mm",
    "tre_max_mm",
    "jacobian_min",
    "folded_pct",
)


def _read_optional(
    path: str | None, role: str, reference: Image, is_label: bool, channel: str | None = None
) -> Image | None:
    if not path:
        if channel is not None:
            raise RegViewerError(f"a {role} channel was given without the {role}")
        return None
    if role.endswith("label map"):  # a 4D one-hot file: the channel chosen, or a message naming the options
        image = read_label_map(path, parse_label_channel(channel))
    else:
        image = read_image(path, is_label=is_label)
    if image.ndim != reference.ndim:
        raise InputMismatchError(f"{path}: the {role} is {image.ndim}D but its image is {reference.ndim}D")
    return image


def _score_labels(spec: str | None) -> list[int] | None:
    if not spec:
        return None
    if Path(spec).exists():
        check_regular_file(Path(spec))
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RegViewerError(f"--labels {spec}: cannot read the label list ({error})") from None
    else:
        text = spec
    try:
        return [int(float(item)) for item in text.replace(",", " ").split()]
    except (ValueError, OverflowError):
        raise RegViewerError(f"--labels: expected label numbers, got {spec!r}") from None


def _landmarks(args: argparse.Namespace, fixed: Image, moving: Image) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Complete active landmark pairs from any supported format (see cli/landmarks.py)."""
    from regviewer.cli.landmarks import register_landmarks

    return register_landmarks(args, fixed, moving)


def _initial(spec: str | None, fixed_points: np.ndarray | None, moving_points: np.ndarray | None):
    """``--init``: a transform file, or a fit to the landmarks ("landmarks", "landmarks-rigid" ...)."""
    from regviewer.cli.landmarks import initial_from_landmarks, is_landmark_init

    if not spec:
        return None
    return initial_from_landmarks(spec, fixed_points, moving_points) if is_landmark_init(spec) else read_transform(spec)


def _stages(args: argparse.Namespace) -> list[Stage]:
    if args.method and args.preset:
        raise RegViewerError("give either --method or --preset, not both")
    stages = list(get_preset(args.preset).stages) if args.preset else parse_methods(args.method or "affine")
    overrides: dict[str, str] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RegViewerError(f"--param {item!r}: expected NAME=VALUE")
        overrides[name.strip()] = value.strip()
    stages = override_stages(stages, overrides) if overrides else stages
    return _with_metric(stages, args.metric) if args.metric else stages


def _metric_choices(stages: list[Stage]) -> dict[str, tuple[str, ...]]:
    """Each chained method that has a metric -> its own metric names (from the registry's parameter schema)."""
    registry = default_registry()
    choices: dict[str, tuple[str, ...]] = {}
    for stage in stages:
        for parameter in registry.get(stage.method).parameters:
            if parameter.name == "metric":
                choices[stage.method] = parameter.choices
    return choices


def _with_metric(stages: list[Stage], metric: str) -> list[Stage]:
    """``--metric``: set on every stage that has one, in that method's own names (ANTs' "mattes", elastix' "ncc"...).

    Names match without regard to case (``cc`` is ANTs' ``CC``); a name one of the methods does not know is
    an error that lists the names every metric-bearing stage of the chain accepts.
    """
    choices = _metric_choices(stages)
    methods = ", ".join(stage.method for stage in stages)
    if not choices:
        raise RegViewerError(f"--metric {metric}: {methods} has no metric to set")
    chosen: dict[str, str] = {}
    for method, names in choices.items():
        match = [name for name in names if name.lower() == metric.lower()]
        if not match:
            common = [n for n in names if all(n.lower() in {c.lower() for c in other} for other in choices.values())]
            if common:
                valid = f"choose from: {', '.join(common)}"
            else:
                valid = "no metric name fits every stage: " + "; ".join(
                    f"{m}: {', '.join(c)}" for m, c in choices.items()
                )
            raise RegViewerError(f"--metric {metric} is not a metric of {method} ({valid})")
        chosen[method] = match[0]
    return [
        Stage(stage.method, {**stage.parameters, "metric": chosen[stage.method]}) if stage.method in chosen else stage
        for stage in stages
    ]


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_summary(document: dict, out: Path) -> None:
    before, after = document["before"], document["after"]
    print(f"{document['method']}: {document['status']} in {document['runtime_s']:.1f} s  ->  {out}")
    print(f"  {'metric':<14}{'before':>10}{'after':>10}")
    for key in SUMMARY_KEYS:
        if key in before or key in after:
            print(f"  {key:<14}{_format(before.get(key)):>10}{_format(after.get(key)):>10}")


def _check_outputs(args: argparse.Namespace) -> Path:
    """Before any work: no output may replace an input, and OUT must be a folder that can be written."""
    out = Path(args.output)
    inputs = [
        args.fixed,
        args.moving,
        args.fixed_mask,
        args.moving_mask,
        args.fixed_labels,
        args.moving_labels,
        args.fixed_landmarks,
        args.moving_landmarks,
        args.labels if args.labels and Path(args.labels).exists() else None,
        args.init if args.init and Path(args.init).exists() else None,
        args.preset if args.preset and Path(args.preset).exists() else None,
    ]
    check_outputs_are_not_inputs(output_paths(out, args.moving, args.moving_labels), inputs)
    return check_output_folder(out)


def register(args: argparse.Namespace) -> tuple[dict, Path]:
    out = _check_outputs(args)
    stages = _stages(args)
    validate_stages(stages)  # a typo in a method or parameter fails before large images are read
    for side in ("fixed", "moving"):  # a bad channel spelling fails before the images are read too
        parse_label_channel(getattr(args, f"{side}_labels_channel", None))
    channel = parse_colour_channel(getattr(args, "channel", None))
    preset = get_preset(args.preset) if args.preset else None
    score_labels = _score_labels(args.labels)
    fixed = read_image(args.fixed)
    moving = read_image(args.moving)
    if fixed.ndim != moving.ndim:
        raise InputMismatchError(
            f"{args.fixed} is {fixed.ndim}D but {args.moving} is {moving.ndim}D; register images of the same dimension"
        )
    fixed_mask = _read_optional(args.fixed_mask, "fixed mask", fixed, True)
    moving_mask = _read_optional(args.moving_mask, "moving mask", moving, True)
    fixed_labels = _read_optional(
        args.fixed_labels, "fixed label map", fixed, True, getattr(args, "fixed_labels_channel", None)
    )
    moving_labels = _read_optional(
        args.moving_labels, "moving label map", moving, True, getattr(args, "moving_labels_channel", None)
    )
    fixed_points, moving_points = _landmarks(args, fixed, moving)
    initial = _initial(args.init, fixed_points, moving_points)
    if initial is not None and initial.ndim != fixed.ndim:
        raise InputMismatchError(f"{args.init}: a {initial.ndim}D transform for {fixed.ndim}D images")
    # the same Request / evaluation builder and run protocol as the window (regviewer.app.RunSession)
    workspace = Workspace()
    workspace.set_content(
        fixed=fixed,
        moving=moving,
        fixed_mask=fixed_mask,
        moving_mask=moving_mask,
        fixed_labels=fixed_labels,
        moving_labels=moving_labels,
    )
    masks = tuple(side for side, mask in (("fixed", fixed_mask), ("moving", moving_mask)) if mask is not None)
    plan = RunPlan(
        tuple(stages),
        mask_roles=masks,
        use_labels=True,
        start=initial if initial is not None else START_NONE,
        start_label=str(args.init or ""),
        fixed_points=fixed_points,
        moving_points=moving_points,
        score_labels=score_labels,
        channel=channel,
        auto_mask=preset.mask if preset is not None else None,
    )
    session = RunSession(workspace)
    prepared = session.prepare(plan, validate=False)
    token = CancelToken()
    bar = TerminalProgress()
    # Ctrl-C while running or writing cancels: the run stops and its transform is still written (first).
    with cancel_on_signals(token, "cancelling (the last transform will be written; Ctrl-C again to abort)"):
        result = run_chain(prepared.stages, prepared.request, bar, token)
        bar.finish_line()
        document = write_result(result, prepared.evaluation, out, args.moving, args.moving_labels)
        if getattr(args, "export_elastix", False):
            from regviewer.core.io.elastix_params import write_elastix_transform

            write_elastix_transform(result.transform, fixed.geometry, out / "elastix" / "TransformParameters.txt")
    if token.cancelled and document["status"] == "completed":
        document["status"] = "cancelled"
    return document, out


def run_register(args: argparse.Namespace) -> int:
    document, out = register(args)
    print_summary(document, out)
    for warning in document["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 130 if document["status"] == "cancelled" else 0


def print_presets() -> int:
    print("Presets (--preset NAME):")
    for preset in builtin_presets().values():
        chain = " -> ".join(stage.method for stage in preset.stages)
        print(f"  {preset.name:<24}{preset.label} [{chain}]\n  {'':<24}{preset.description}")
    registry = default_registry()
    print("\nMethods (--method NAME[,NAME...]) and their parameters (--param NAME=VALUE):")
    for method in registry.methods.values():
        print(f"  {method.name:<21}{method.label}: {method.description}")
        for parameter in method.parameters:
            unit = f" {parameter.unit}" if parameter.unit else ""
            choices = f" ({'|'.join(parameter.choices)})" if parameter.choices else ""
            default = (
                ",".join(str(v) for v in parameter.default)
                if isinstance(parameter.default, tuple)
                else parameter.default
            )
            print(f"      {parameter.name} = {default}{unit}{choices}")
    for name, reason in registry.errors.items():
        print(f"  (plugin {name} failed to load: {reason})")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from regviewer.paths import SAMPLE_DATA

    folder = SAMPLE_DATA / "brain2d"
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="regviewer-demo-"))
    print(f"Registering the bundled 2D brain pair ({folder}) with the 'deformable' preset")
    demo_args = argparse.Namespace(
        fixed=str(folder / "r16slice.jpg"),
        moving=str(folder / "r64slice.jpg"),
        output=str(out),
        method=None,
        preset="deformable",
        metric=None,
        param=[],
        fixed_mask=None,
        moving_mask=None,
        fixed_labels=None,
        moving_labels=None,
        labels=None,
        fixed_landmarks=None,
        moving_landmarks=None,
        init=None,
        channel="luminance",
    )
    return run_register(demo_args)
