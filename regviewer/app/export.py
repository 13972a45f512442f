"""Write one run of a session as ``regviewer register -o OUT`` would, plus the inverse and a report.

The files and names are exactly the CLI's (registration/outputs.py, README "Outputs"), so a script
treats a result saved from the window and one from the command line alike:

OUT/transform.tfm | .h5                       fixed -> moving (what resampling needs), as the CLI
OUT/transform_inverse_moving_to_fixed.tfm|.h5 moving -> fixed (what carries points), where an inverse exists
OUT/warped.<ext>, OUT/warped_labels.<ext>, OUT/displacement.nii.gz, OUT/jacobian.nii.gz, OUT/metrics.json
OUT/report.html                               one page: the view grid, the parameters, before / after

Everything is written into a hidden sibling folder first and then moved into OUT file by file
(each ``os.replace`` is atomic), so OUT never holds a half-written file. A file of OUT that is one of
the inputs (an image, the session) is never written over: the export is refused before it starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regviewer.app.report import html_report
from regviewer.app.session_document import RunEntry, Session, SessionError
from regviewer.app.session_transforms import write_file
from regviewer.core.evaluation import EvaluationData
from regviewer.core.io import read_image
from regviewer.core.io.atomic import TEMP_MARK, write_text_atomic
from regviewer.core.transforms import BSplineTransform, CompositeTransform, Transform, to_displacement_field
from regviewer.registration.base import Result
from regviewer.registration.outputs import write_result

INVERSE_STEM = "transform_inverse_moving_to_fixed"
INVERSE_DIRECTION = "transform_inverse_moving_to_fixed maps moving-space points (LPS mm) to fixed-space points: use it for points, not for resampling"
REPORT = "report.html"
INVERSE_GRID = 64
_OUTPUT_STEMS = ("warped", "warped_labels", "transform", INVERSE_STEM, "displacement", "jacobian", "metrics", "report")


@dataclass
class ExportResult:
    """What an export wrote."""

    folder: Path
    files: dict[str, str]
    document: dict[str, Any]


def choose_run(session: Session, run_id: int | None) -> RunEntry:
    """The run to export: ``run_id``, else the current run, else the last completed one."""
    if run_id is not None:
        return session.run(run_id)
    if session.current_run is not None:
        return session.run(session.current_run)
    finished = [
        entry for entry in session.runs if entry.status in ("completed", "cancelled") and entry.transform is not None
    ]
    if not finished:
        raise SessionError("the session has no finished run to export")
    return finished[-1]


def _stem(name: str) -> str:
    return name.split(".")[0]


def check_not_inputs(out: Path, inputs: list[Path]) -> None:
    """Refuse an OUT that is an input, or in which an output name is an input file."""
    out = out.resolve()
    for path in inputs:
        path = Path(path).resolve()
        if path == out or (path.is_dir() and path in out.parents):
            raise SessionError(f"{out}: is an input of the session ({path.name}); choose another output folder")
        if path.parent == out and _stem(path.name) in _OUTPUT_STEMS:
            raise SessionError(f"{out}: exporting would write over the input {path.name}; choose another output folder")
    if out.exists() and not out.is_dir():
        raise SessionError(f"{out}: exists and is a file; choose a folder for the results")


def _image(session: Session, role: str, required: bool = False):
    ref = session.images.get(role)
    if ref is None:
        if required:
            raise SessionError(f"the session has no {role} image")
        return None
    if not Path(ref.path).exists():
        raise SessionError(f"{ref.path}: the {role.replace('_', ' ')} image is missing; locate it first")
    return read_image(ref.path, is_label=role.endswith("labels") or role.endswith("mask"), **ref.options)


def evaluation_data(session: Session) -> EvaluationData:
    """The images, labels, mask and active landmark pairs the run's figures are computed on."""
    pairs = [pair for pair in session.landmarks if pair.active and pair.fixed is not None and pair.moving is not None]
    return EvaluationData(
        fixed=_image(session, "fixed", True),
        moving=_image(session, "moving", True),
        fixed_mask=_image(session, "fixed_mask"),
        fixed_labels=_image(session, "fixed_labels"),
        moving_labels=_image(session, "moving_labels"),
        fixed_landmarks=np.array([pair.fixed for pair in pairs]) if pairs else None,
        moving_landmarks=np.array([pair.moving for pair in pairs]) if pairs else None,
    )


def _result(entry: RunEntry, transform: Transform) -> Result:
    return Result(
        method=str(entry.parameters.get("method") or entry.title),
        transform=transform,
        status=entry.status,
        parameters={"stages": entry.parameters.get("stages", [])},
        runtime_s=entry.runtime_s,
        message=entry.message,
        log=tuple(f"warning: {warning}" for warning in entry.warnings),
    )


def inverse_of(transform: Transform, voxels_per_axis: int = INVERSE_GRID) -> Transform:
    """The moving -> fixed map, part by part: exact for linear parts, a numerical field for the others.

    A B-spline part is inverted on a grid of at most ``voxels_per_axis`` per axis over its domain
    (its deformation is smooth on the scale of its control grid, so this loses nothing visible and
    is about ten times faster than the 128-per-axis grid of ``BSplineTransform.inverse``).
    """
    parts = transform.transforms if isinstance(transform, CompositeTransform) else (transform,)
    inverted = []
    for part in reversed(parts):
        if isinstance(part, BSplineTransform):
            inverted.append(to_displacement_field(part, part.domain_geometry(voxels_per_axis)).inverse())
        else:
            inverted.append(part.inverse())
    return inverted[0] if len(inverted) == 1 else CompositeTransform(inverted)


def _write_inverse(transform: Transform, staging: Path) -> tuple[str | None, str | None]:
    """Write the moving -> fixed map; (file name, None) or (None, why not)."""
    try:
        inverse = inverse_of(transform)
        name = f"{INVERSE_STEM}{'.tfm' if inverse.is_linear else '.h5'}"
        write_file(inverse, staging / name)
        return name, None
    except MemoryError:
        return None, "not enough memory to invert the transform"
    except Exception as error:  # an inverse is a courtesy: its failure must not lose the rest
        return None, f"the transform could not be inverted ({type(error).__name__}: {error})"


def export_run(
    session: Session,
    out_dir: str | os.PathLike[str],
    run_id: int | None = None,
    view_png: bytes | None = None,
    protect: list[Path] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write run ``run_id`` (default: see ``choose_run``) of ``session`` to ``out_dir``.

    Args:
        protect: further paths never to write over (e.g. the session bundle itself).
        progress: called with a short line before each step (for a status bar or the CLI).

    Raises:
        SessionError: no such run, a failed run, a missing image, or an output over an input.
    """
    say = progress or (lambda line: None)
    out = Path(out_dir).expanduser().absolute()
    entry = choose_run(session, run_id)
    if entry.status not in ("completed", "cancelled") or entry.transform is None:
        raise SessionError(
            f"run #{entry.run_id} {entry.status}{': ' + entry.message if entry.message else ''}; it has no result to export"
        )
    check_not_inputs(out, [Path(ref.path) for ref in session.images.values()] + list(protect or []))
    say("reading the images")
    data = evaluation_data(session)
    transform = entry.load_transform()
    labels_ref = session.images.get("moving_labels")
    staging = out.with_name(f".{out.name}{TEMP_MARK}{secrets.token_hex(4)}")
    try:
        say("writing the warped image, transform, field, Jacobian and figures")
        document = write_result(
            _result(entry, transform),
            data,
            staging,
            session.images["moving"].path,
            labels_ref.path if labels_ref is not None else None,
        )
        say("inverting the transform (moving -> fixed)")
        inverse_name, inverse_problem = _write_inverse(transform, staging)
        if inverse_name:
            document["files"]["inverse_transform"] = inverse_name
            document["inverse_direction"] = INVERSE_DIRECTION
        else:
            document["warnings"].append(f"no moving -> fixed transform written: {inverse_problem}")
        document["run"] = {"id": entry.run_id, "title": entry.title, "parameters": entry.parameters}
        document["files"]["report"] = REPORT
        write_text_atomic(staging / "metrics.json", json.dumps(document, indent=1))
        images = {role: Path(ref.path).name for role, ref in session.images.items()}
        write_text_atomic(
            staging / REPORT,
            html_report(document, f"Run #{entry.run_id}: {entry.title}", images, view_png, session.notes),
        )
        say(f"moving the results into {out}")
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    except OSError as error:
        raise SessionError(f"{out}: cannot write the results ({error.strerror or error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, dict(document["files"]), document)
