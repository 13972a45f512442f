"""ANTs engines (antspyx): ``ants-rigid``, ``ants-affine``, ``ants-syn``, ``ants-synquick``.

``ants.registration`` runs in a child process (``child_run``: the binding holds the Python lock), its
iteration lines (``DIAGNOSTIC,  it, metric, ...``) are followed for progress, and the transforms it
writes are read back as RegViewer transforms:

- ANTs' forward transforms (``fwdtransforms``: ``[1Warp.nii.gz, 0GenericAffine.mat]``) map fixed points
  to moving points, the resampling direction, which is RegViewer's convention; the list is in
  antsApplyTransforms order, so a fixed point goes through the warp first, then the affine:
  ``CompositeTransform([warp, affine])``.
- ``.mat`` files are ITK MatrixOffsetTransforms in LPS mm; warps are ITK displacement-field images
  (LPS mm vectors on the fixed grid): both read with SimpleITK, nothing to flip.
- An initial transform (linear) is handed to ANTs as a ``.mat`` file; ANTs folds it into its own
  affine output, so the forward transforms already hold it.

``ants`` is imported only when an ANTs method runs (install the ``[ants]`` extra).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import InputMismatchError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.transforms import CompositeTransform, Transform, simplify
from regviewer.registration.base import Parameter, Request, Result
from regviewer.registration.engine_child import EngineRun, preload, prepare

INSTALL_HINT = "ANTs is not installed: pip install 'regviewer[ants]' (antspyx)"
METRICS = ("mattes", "CC", "meansquares")
_ROW = re.compile(r"^\s*\d*X*DIAGNOSTIC,\s*(\d+),\s*([-+0-9.eE]+|nan|inf)")
_HEADER = re.compile(r"^\s*\d*X*DIAGNOSTIC,Iteration")


def load_ants() -> Any:
    try:
        import ants
    except ImportError:
        raise RegViewerError(INSTALL_HINT) from None
    return ants


def ants_image(ants: Any, image: Image) -> Any:
    """An ANTsImage with the same voxels and LPS geometry (ANTs arrays are indexed (x, y, z))."""
    return ants.from_numpy(
        np.ascontiguousarray(np.asarray(image.array, dtype=np.float32).T),
        origin=tuple(float(v) for v in image.origin),
        spacing=tuple(float(v) for v in image.spacing),
        direction=np.array(image.direction, dtype=np.float64),
    )


def ants_child(
    workdir: str, fixed: Image, moving: Image, masks: tuple, options: dict, initial_file: str | None
) -> None:
    """Child-process body: run ants.registration; write the forward transform list to result.json."""
    ants = load_ants()
    arguments = dict(options)
    if masks[0] is not None:
        arguments["mask"] = ants_image(ants, masks[0].with_array((np.asarray(masks[0].array) > 0).astype(np.float32)))
    if masks[1] is not None:
        arguments["moving_mask"] = ants_image(
            ants, masks[1].with_array((np.asarray(masks[1].array) > 0).astype(np.float32))
        )
    if initial_file:
        arguments["initial_transform"] = [initial_file]
    result = ants.registration(
        ants_image(ants, fixed),
        ants_image(ants, moving),
        outprefix=str(Path(workdir) / "ants_"),
        verbose=True,
        **arguments,
    )
    Path(workdir, "result.json").write_text(
        json.dumps({"fwdtransforms": list(result["fwdtransforms"])}), encoding="utf-8"
    )


class DiagnosticFollower:
    """Turns ANTs' verbose output into (level, iteration, metric) rows; each table header starts a level."""

    def __init__(self) -> None:
        self.level = -1
        self.pending = ""

    def feed(self, text: str) -> list[tuple[int, int, float]]:
        lines = (self.pending + text).replace("\r", "\n").split("\n")
        self.pending = lines.pop()
        rows = []
        for line in lines:
            if _HEADER.match(line):
                self.level += 1
                continue
            match = _ROW.match(line)
            if match:
                rows.append((max(self.level, 0), int(match.group(1)), float(match.group(2))))
        return rows


def _level_list(values: tuple) -> tuple:
    return tuple(int(v) for v in values)


class _AntsMethod:
    """Common run for the ANTs methods; subclasses give the antspyx ``type_of_transform`` and options."""

    name = ""
    label = ""
    description = ""
    parameters: tuple[Parameter, ...] = ()

    def _options(self, values: dict, has_initial: bool) -> dict:
        raise NotImplementedError

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel, started, values = prepare(self, request, cancel)
        initial = request.initial_transform
        if initial is not None and not initial.is_linear:
            raise InputMismatchError(
                f"{self.label} starts only from a linear transform; run it before the deformable stage"
            )
        options = self._options(values, initial is not None)
        preload(load_ants)
        with tempfile.TemporaryDirectory(prefix="regviewer-ants-") as folder:
            work = Path(folder)
            initial_file = None
            if initial is not None:
                initial_file = str(work / "initial.mat")
                sitk.WriteTransform(simplify(initial).to_sitk(), initial_file)
            run = EngineRun(
                self.name,
                progress,
                lambda level, iteration, metric: ProgressEvent(
                    self.name, level, max(level + 1, 1), iteration, metric, f"ANTs level {level + 1}"
                ),
            )
            outcome = run.run(
                ants_child,
                request,
                (options, initial_file),
                work,
                cancel,
                parse_output=DiagnosticFollower().feed,
            )
            if outcome.status == "failed":
                raise RegViewerError(f"{self.label} failed: {outcome.message}")
            transform = (
                self._read_result(work, request) if outcome.status == "completed" else (initial or _identity(request))
            )
        message = outcome.message or f"ANTs {options['type_of_transform']} finished"
        return run.result(
            transform,
            outcome.status,
            values,
            started,
            message,
            [f"{self.label}: {outcome.status}; {message}", transform.describe()],
        )

    @staticmethod
    def _read_result(work: Path, request: Request) -> Transform:
        names = json.loads((work / "result.json").read_text(encoding="utf-8"))["fwdtransforms"]
        parts = [read_transform(name) for name in names]
        if request.initial_transform is not None and not any(str(name).endswith("GenericAffine.mat") for name in names):
            parts.append(request.initial_transform)  # ANTs did not fold the initial transform in: it is applied last
        return simplify(CompositeTransform(parts)) if len(parts) > 1 else parts[0]


def _identity(request: Request) -> Transform:
    from regviewer.core.transforms import AffineTransform

    return AffineTransform.identity(request.fixed.ndim)


def _linear_parameters(metric: str) -> tuple[Parameter, ...]:
    return (
        Parameter(
            "metric",
            "choice",
            metric,
            "Metric",
            "mattes: Mattes mutual information (any modality); CC: local correlation; meansquares.",
            choices=METRICS,
        ),
        Parameter(
            "iterations",
            "int_list",
            (2100, 1200, 1200, 10),
            "Iterations",
            "Gradient steps per level, coarse to fine (ANTs' aff_iterations).",
            0,
            100000,
        ),
        Parameter(
            "shrink_factors",
            "int_list",
            (6, 4, 2, 1),
            "Shrink factors",
            "Downsampling per level (aff_shrink_factors).",
            1,
            32,
            expert=True,
        ),
        Parameter(
            "smoothing_sigmas",
            "int_list",
            (3, 2, 1, 0),
            "Smoothing",
            "Gaussian smoothing per level, voxels (aff_smoothing_sigmas).",
            0,
            16,
            expert=True,
        ),
        Parameter(
            "sampling",
            "int",
            32,
            "Metric bins / radius",
            "Mattes bins or CC radius of the affine metric (aff_sampling).",
            1,
            256,
            expert=True,
        ),
        Parameter(
            "random_seed",
            "int",
            1,
            "Random seed",
            "ANTs samples at random: a fixed seed gives the same result each run.",
            0,
            2**31 - 1,
            expert=True,
        ),
    )


class AntsRigidMethod(_AntsMethod):
    name = "ants-rigid"
    label = "ANTs rigid"
    description = "ANTs (antspyx) rigid registration, Mattes mutual information."
    parameters = _linear_parameters("mattes")
    kind = "Rigid"

    def _options(self, values: dict, has_initial: bool) -> dict:
        levels = len(values["iterations"])
        if not len(values["shrink_factors"]) == len(values["smoothing_sigmas"]) == levels:
            raise InputMismatchError("give one iteration count, shrink factor and smoothing per level")
        return {
            "type_of_transform": self.kind,
            "aff_metric": values["metric"],
            "aff_iterations": _level_list(values["iterations"]),
            "aff_shrink_factors": _level_list(values["shrink_factors"]),
            "aff_smoothing_sigmas": _level_list(values["smoothing_sigmas"]),
            "aff_sampling": values["sampling"],
            "random_seed": values["random_seed"],
        }


class AntsAffineMethod(AntsRigidMethod):
    name = "ants-affine"
    label = "ANTs affine"
    description = "ANTs (antspyx) affine registration, Mattes mutual information."
    kind = "Affine"


class AntsSynMethod(_AntsMethod):
    name = "ants-syn"
    label = "ANTs SyN"
    description = (
        "ANTs symmetric normalisation (SyN): a diffeomorphic deformation; with 'affine first' ANTs runs its own "
        "affine stage before it (type SyN), else only the deformation (SyNOnly, after a previous stage)."
    )
    quick = False
    parameters = (
        Parameter(
            "metric", "choice", "mattes", "Metric", "Metric of the deformable stage (syn_metric).", choices=METRICS
        ),
        Parameter(
            "affine_first",
            "bool",
            True,
            "Affine first",
            "Run ANTs' own affine stage first; turn off after an affine stage of your own.",
        ),
        Parameter(
            "iterations",
            "int_list",
            (40, 20, 0),
            "Iterations",
            "SyN iterations per level, coarse to fine (reg_iterations).",
            0,
            100000,
        ),
        Parameter("grad_step", "float", 0.2, "Gradient step", "SyN step size.", 0.001, 10.0, expert=True),
        Parameter(
            "flow_sigma",
            "float",
            3.0,
            "Update smoothing",
            "Smoothing of the update field (voxels).",
            0.0,
            50.0,
            expert=True,
        ),
        Parameter(
            "total_sigma",
            "float",
            0.0,
            "Total smoothing",
            "Smoothing of the total field (voxels).",
            0.0,
            50.0,
            expert=True,
        ),
        Parameter(
            "sampling",
            "int",
            32,
            "Metric bins / radius",
            "Mattes bins or CC radius of the deformable metric (syn_sampling).",
            1,
            256,
            expert=True,
        ),
        Parameter(
            "random_seed",
            "int",
            1,
            "Random seed",
            "A fixed seed gives the same result each run.",
            0,
            2**31 - 1,
            expert=True,
        ),
    )

    def _options(self, values: dict, has_initial: bool) -> dict:
        kind = "SyN" if values["affine_first"] else "SyNOnly"
        return {
            "type_of_transform": kind,
            "syn_metric": values["metric"],
            "reg_iterations": _level_list(values["iterations"]),
            "grad_step": values["grad_step"],
            "flow_sigma": values["flow_sigma"],
            "total_sigma": values["total_sigma"],
            "syn_sampling": values["sampling"],
            "random_seed": values["random_seed"],
        }


class AntsSynQuickMethod(_AntsMethod):
    name = "ants-synquick"
    label = "ANTs SyN quick"
    description = "antsRegistrationSyNQuick: rigid + affine + SyN with ANTs' fast default schedule (or SyN only after a stage of your own)."
    parameters = (
        Parameter(
            "affine_first",
            "bool",
            True,
            "Affine first",
            "Run the quick rigid + affine stages first ([s]); off: SyN only ([so]).",
        ),
        Parameter(
            "random_seed",
            "int",
            1,
            "Random seed",
            "A fixed seed gives the same result each run.",
            0,
            2**31 - 1,
            expert=True,
        ),
    )

    def _options(self, values: dict, has_initial: bool) -> dict:
        kind = "antsRegistrationSyNQuick[s]" if values["affine_first"] else "antsRegistrationSyNQuick[so]"
        return {"type_of_transform": kind, "random_seed": values["random_seed"]}
