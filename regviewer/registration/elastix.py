"""elastix engines (itk-elastix): ``elastix-rigid``, ``elastix-affine``, ``elastix-bspline``.

Each run builds an elastix parameter map from the schema (``elastix_maps``), runs elastix in a child
process (``child_run``: ITK holds the Python lock for the whole call, so progress and cancel need a
second process), follows elastix's log for progress (``elastix_log``) and reads the resulting
TransformParameters file back as a RegViewer transform (``core.io.elastix_params``). elastix's files
hold the fixed -> moving map in LPS mm, RegViewer's convention, so nothing is inverted.

- An initial transform (a previous stage, ``--init``) is handed to elastix as a TransformParameters
  file; elastix applies it first, so the result is ``CompositeTransform([initial, elastix's own])``.
- Masks become elastix's fixed / moving masks; landmark pairs become elastix point files and the
  ``CorrespondingPointsEuclideanDistanceMetric`` term.
- A cancelled run keeps the last resolution level elastix finished (it writes one file per level).

``itk`` is imported only when an elastix method runs (install the ``[elastix]`` extra).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from regviewer.core.errors import InputMismatchError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io.elastix_params import read_elastix_transform, write_elastix_transform
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.transforms import CompositeTransform, Transform, simplify
from regviewer.registration.base import Parameter, Request, Result
from regviewer.registration.elastix_maps import METRICS, ParameterMap, build_map, parameter_file_parameter
from regviewer.registration.engine_child import EngineRun, preload, prepare

INSTALL_HINT = "elastix is not installed: pip install 'regviewer[elastix]' (itk-elastix)"


def load_itk() -> Any:
    """Import itk with elastix loaded (slow the first time: ITK loads its wrappers lazily)."""
    try:
        import itk
    except ImportError:
        raise RegViewerError(INSTALL_HINT) from None
    if not hasattr(itk, "ElastixRegistrationMethod"):
        raise RegViewerError(INSTALL_HINT)
    return itk


def itk_image(itk: Any, image: Image, pixel: type = np.float32) -> Any:
    """An ITK image with the same voxels and LPS geometry (array order (z, y, x) as ITK's views)."""
    array = np.ascontiguousarray(image.array, dtype=pixel)
    result = itk.image_from_array(array)
    result.SetOrigin([float(v) for v in image.origin])
    result.SetSpacing([float(v) for v in image.spacing])
    result.SetDirection(
        itk.matrix_from_array(np.array(image.direction, dtype=np.float64))
    )  # a writable copy: a read-only array crashes ITK
    return result


def write_point_file(points: np.ndarray, path: Path) -> Path:
    """An elastix point file: "point" (physical mm), the count, one point per line."""
    lines = ["point", str(len(points))] + [" ".join(f"{v:.10g}" for v in p) for p in np.asarray(points, dtype=float)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def elastix_child(
    workdir: str,
    fixed: Image,
    moving: Image,
    masks: tuple,
    parameter_map: ParameterMap,
    initial_file: str | None,
    point_files: tuple,
    threads: int,
) -> None:
    """Child-process body: run elastix once; it writes elastix.log and TransformParameters files into ``workdir``."""
    itk = load_itk()
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameter_map)
    method = itk.ElastixRegistrationMethod.New(itk_image(itk, fixed), itk_image(itk, moving))
    method.SetParameterObject(parameters)
    method.SetOutputDirectory(workdir)
    method.SetLogToFile(True)
    method.SetLogToConsole(False)
    if initial_file:
        method.SetInitialTransformParameterFileName(initial_file)
    if masks[0] is not None:
        method.SetFixedMask(
            itk_image(itk, masks[0].with_array((np.asarray(masks[0].array) > 0).astype(np.uint8)), np.uint8)
        )
    if masks[1] is not None:
        method.SetMovingMask(
            itk_image(itk, masks[1].with_array((np.asarray(masks[1].array) > 0).astype(np.uint8)), np.uint8)
        )
    if point_files:
        method.SetFixedPointSetFileName(point_files[0])
        method.SetMovingPointSetFileName(point_files[1])
    if threads > 0:
        method.SetNumberOfThreads(threads)
    method.Update()


def common_parameters(metric: str, resolutions: int, iterations: int) -> tuple[Parameter, ...]:
    return (
        Parameter(
            "metric",
            "choice",
            metric,
            "Metric",
            "ncc: elastix's AdvancedNormalizedCorrelation (same modality); mi: AdvancedMattesMutualInformation "
            "(different modalities); mse: AdvancedMeanSquares (same intensities).",
            choices=tuple(METRICS),
        ),
        Parameter(
            "resolutions",
            "int",
            resolutions,
            "Resolutions",
            "Pyramid levels (NumberOfResolutions); keep 3 or fewer on thin volumes (~32 slices).",
            1,
            8,
        ),
        Parameter(
            "iterations", "int", iterations, "Iterations", "MaximumNumberOfIterations per resolution.", 1, 100000
        ),
    )


def expert_parameters(samples: int) -> tuple[Parameter, ...]:
    return (
        Parameter(
            "samples",
            "int",
            samples,
            "Samples",
            "NumberOfSpatialSamples: random samples per iteration; more is slower and more precise.",
            64,
            10**8,
            expert=True,
        ),
        Parameter(
            "points_weight",
            "float",
            0.1,
            "Landmark weight",
            "Weight of CorrespondingPointsEuclideanDistanceMetric when landmark pairs are given.",
            0.0,
            1e6,
            expert=True,
        ),
        Parameter("threads", "int", 0, "Threads", "elastix threads; 0 = all cores.", 0, 256, expert=True),
        parameter_file_parameter(),
    )


INIT_PARAMETER = Parameter(
    "initialization",
    "choice",
    "geometry",
    "Initialisation",
    "Without an initial transform: geometry aligns the image centres, moments the centres of gravity, none starts "
    "from identity (elastix's AutomaticTransformInitialization).",
    choices=("geometry", "moments", "none"),
)


class _ElastixMethod:
    """Common run for the three elastix methods; subclasses set ``kind`` and the schema."""

    name = ""
    label = ""
    description = ""
    kind = ""
    parameters: tuple[Parameter, ...] = ()

    def run(
        self, request: Request, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None
    ) -> Result:
        cancel, started, values = prepare(self, request, cancel)
        with_points = (
            request.fixed_landmarks is not None
            and request.moving_landmarks is not None
            and len(request.fixed_landmarks) > 0
        )
        parameter_map = build_map(self.kind, values, {p.name: p.default for p in self.parameters}, with_points)
        if request.initial_transform is not None and "AutomaticTransformInitialization" in parameter_map:
            parameter_map["AutomaticTransformInitialization"] = [
                "false"
            ]  # start exactly where the previous stage ended
        levels = int(parameter_map.get("NumberOfResolutions", ["1"])[0])
        iterations = int(parameter_map.get("MaximumNumberOfIterations", ["0"])[0])
        preload(load_itk)
        with tempfile.TemporaryDirectory(prefix="regviewer-elastix-") as folder:
            work = Path(folder)
            initial_file = None
            if request.initial_transform is not None:
                try:
                    initial_file = str(
                        write_elastix_transform(
                            request.initial_transform, request.fixed.geometry, work / "initial.txt"
                        )[-1]
                    )
                except InputMismatchError:
                    raise InputMismatchError(
                        f"{self.label} can start only from linear and B-spline transforms, not from "
                        f"{request.initial_transform.describe()}: run the elastix stages first"
                    ) from None
            point_files: tuple = ()
            if with_points:
                point_files = (
                    str(write_point_file(request.fixed_landmarks, work / "fixed_points.txt")),
                    str(write_point_file(request.moving_landmarks, work / "moving_points.txt")),
                )
            run = EngineRun(
                self.name,
                progress,
                lambda level, iteration, metric: ProgressEvent(
                    self.name,
                    level,
                    levels,
                    iteration,
                    metric,
                    f"elastix level {level + 1}/{levels}",
                    max_iterations=iterations,
                ),
            )
            outcome = run.run(
                elastix_child,
                request,
                (parameter_map, initial_file, point_files, int(values["threads"])),
                work,
                cancel,
                log_file=work / "elastix.log",
            )
            own = self._own_transform(work, outcome.status)
            if outcome.status == "failed":
                raise RegViewerError(f"{self.label} failed: {self._reason(work, outcome.message)}")
        transform = self._with_initial(own, request)
        message = outcome.message or f"elastix finished {levels} resolution(s)"
        if outcome.status == "cancelled":
            message += "; kept the last finished resolution" if own is not None else "; kept the starting transform"
        log = [f"{self.label}: {outcome.status}; {message}", transform.describe()]
        return run.result(transform, outcome.status, values, started, message, log)

    @staticmethod
    def _own_transform(work: Path, status: str) -> Transform | None:
        final = work / "TransformParameters.0.txt"
        if status != "failed" and final.exists():
            return read_elastix_transform(final, follow_initial=False)
        levels = sorted(
            work.glob("TransformParameters.0.R*.txt"), key=lambda p: int(p.name.split(".R")[1].split(".")[0])
        )
        if status == "completed" and not levels:
            raise RegViewerError("elastix finished without writing a transform")
        return read_elastix_transform(levels[-1], follow_initial=False) if levels and status != "failed" else None

    @staticmethod
    def _with_initial(own: Transform | None, request: Request) -> Transform:
        from regviewer.core.transforms import AffineTransform

        if own is None:
            return request.initial_transform or AffineTransform.identity(request.fixed.ndim)
        if request.initial_transform is None:
            return own
        return simplify(CompositeTransform([request.initial_transform, own]))  # elastix applies the initial first

    @staticmethod
    def _reason(work: Path, message: str) -> str:
        """The most telling line: elastix's own error from its log, else the child's message."""
        log = work / "elastix.log"
        if log.exists():
            lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
            for marker in ("Description:", "ERROR", "Error"):
                found = [line for line in lines if line.startswith(marker) or marker in line[:20]]
                if found:
                    return found[-1][:300]
        return message


class ElastixRigidMethod(_ElastixMethod):
    name = "elastix-rigid"
    label = "elastix rigid"
    description = "elastix EulerTransform (rotation + translation), adaptive stochastic gradient descent."
    kind = "rigid"
    parameters = (*common_parameters("mi", 3, 256), INIT_PARAMETER, *expert_parameters(2048))


class ElastixAffineMethod(_ElastixMethod):
    name = "elastix-affine"
    label = "elastix affine"
    description = "elastix AffineTransform, adaptive stochastic gradient descent."
    kind = "affine"
    parameters = (*common_parameters("ncc", 3, 256), INIT_PARAMETER, *expert_parameters(2048))


class ElastixBSplineMethod(_ElastixMethod):
    name = "elastix-bspline"
    label = "elastix B-spline"
    description = (
        "elastix BSplineTransform with a bending-energy penalty, the grid refined by sqrt(2) per level down "
        "to the chosen spacing. Run it after an affine stage (the elastix-bspline preset does)."
    )
    kind = "bspline"
    parameters = (
        *common_parameters("ncc", 3, 256),
        Parameter(
            "grid_spacing_mm",
            "float",
            16.0,
            "Grid spacing",
            "FinalGridSpacingInPhysicalUnits: control-point spacing at the finest level.",
            1.0,
            500.0,
            unit="mm",
        ),
        Parameter(
            "bending_weight",
            "float",
            1.0,
            "Bending weight",
            "Weight of TransformBendingEnergyPenalty (0 = none): higher keeps the deformation smoother.",
            0.0,
            1e6,
        ),
        *expert_parameters(2048),
    )
