"""elastix parameter maps built from RegViewer's parameter schema (plain dicts: no ITK needed here).

A map is ``{name: [text values]}``, what ``itk.ParameterObject.AddParameterMap`` takes. The base maps
copy ``GetDefaultParameterMap("rigid" | "affine" | "bspline")`` of itk-elastix 0.25.4; the schema's few
parameters (metric, resolutions, iterations, samples, grid spacing, bending weight, initialisation)
are written over them. A user's elastix parameter file is written over the base map: the schema's
values are then written over it only where they differ from the schema's defaults (the form's
changes win, the file keeps everything else, the default map fills what the file leaves out).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regviewer.core.errors import RegViewerError
from regviewer.core.io.elastix_params import parse_parameter_text
from regviewer.registration.base import Parameter, ParameterError

ParameterMap = dict[str, list[str]]

METRICS = {
    "ncc": "AdvancedNormalizedCorrelation",
    "mi": "AdvancedMattesMutualInformation",
    "mse": "AdvancedMeanSquares",
}
TRANSFORMS = {"rigid": "EulerTransform", "affine": "AffineTransform", "bspline": "BSplineTransform"}
POINTS_METRIC = "CorrespondingPointsEuclideanDistanceMetric"
BENDING_METRIC = "TransformBendingEnergyPenalty"

_COMMON: ParameterMap = {
    "AutomaticParameterEstimation": ["true"],
    "CheckNumberOfSamples": ["true"],
    "DefaultPixelValue": ["0"],
    "FinalBSplineInterpolationOrder": ["3"],
    "FixedImagePyramid": ["FixedSmoothingImagePyramid"],
    "MovingImagePyramid": ["MovingSmoothingImagePyramid"],
    "ImageSampler": ["RandomCoordinate"],
    "Interpolator": ["LinearInterpolator"],
    "MaximumNumberOfIterations": ["256"],
    "MaximumNumberOfSamplingAttempts": ["8"],
    "NewSamplesEveryIteration": ["true"],
    "NumberOfResolutions": ["4"],
    "NumberOfSamplesForExactGradient": ["4096"],
    "NumberOfSpatialSamples": ["2048"],
    "Optimizer": ["AdaptiveStochasticGradientDescent"],
    "ResampleInterpolator": ["FinalBSplineInterpolator"],
    "Resampler": ["DefaultResampler"],
    "ResultImageFormat": ["nii"],
    "WriteIterationInfo": ["false"],
    # RegViewer resamples itself; per-resolution files let a cancelled run keep its last level.
    "WriteResultImage": ["false"],
    "WriteTransformParametersEachResolution": ["true"],
}


class ParameterFileParameter(Parameter):
    """A path to an elastix parameter file, or "none": validated as an existing, parseable file."""

    def validate(self, value: Any) -> Any:
        text = str(value).strip()
        if text in ("", "none"):
            return "none"
        path = Path(text).expanduser()
        if not path.is_file():
            raise ParameterError(f"{self.name}: no such elastix parameter file: {text}")
        return str(path)


def parameter_file_parameter() -> Parameter:
    return ParameterFileParameter(
        "parameter_file",
        "choice",
        "none",
        "elastix parameter file",
        "An elastix parameter file (.txt) for everything the form does not show (optimiser, sampler, "
        "pyramid ...): its entries replace elastix's default ones; the form's values that you changed from "
        "their defaults are written over it. 'none' uses elastix's default map.",
        choices=("none",),
        expert=True,
    )


def read_parameter_file(path: str) -> ParameterMap:
    """A user's elastix parameter file as a map (values as text, as elastix reads them)."""
    try:
        entries = parse_parameter_text(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError as error:
        raise RegViewerError(f"{path}: cannot read the elastix parameter file ({error.strerror or error})") from None
    if not entries:
        raise RegViewerError(f"{path}: no (Name value) entries: not an elastix parameter file")
    return {key: [_as_text(v) for v in values] for key, values in entries.items()}


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def grid_schedule(levels: int) -> list[str]:
    """Control-point spacing factor per level, coarse to fine: sqrt(2) per level (elastix's default 2, 1.41, 1)."""
    return [f"{2 ** ((levels - 1 - level) / 2):.6g}" for level in range(levels)]


def build_map(kind: str, values: Mapping[str, Any], defaults: Mapping[str, Any], with_points: bool) -> ParameterMap:
    """The elastix map for one stage ("rigid", "affine" or "bspline") from validated schema values."""
    changed = {name for name, value in values.items() if defaults.get(name) != value}
    from_file = values.get("parameter_file", "none") != "none"
    chosen = changed if from_file else set(values)
    parameter_map: ParameterMap = (
        read_parameter_file(values["parameter_file"]) if from_file else {**_COMMON, "Transform": [TRANSFORMS[kind]]}
    )
    for key, value in _COMMON.items():  # what the file does not set comes from the default map
        parameter_map.setdefault(key, list(value))

    def put(name: str, key: str, text: list[str]) -> None:
        if name in chosen:
            parameter_map[key] = text

    put("resolutions", "NumberOfResolutions", [str(values["resolutions"])])
    put("iterations", "MaximumNumberOfIterations", [str(values["iterations"])])
    put("samples", "NumberOfSpatialSamples", [str(values["samples"])])
    if kind == "rigid":
        parameter_map.setdefault("AutomaticScalesEstimation", ["true"])
    if kind in ("rigid", "affine"):
        parameter_map.setdefault("AutomaticScalesEstimation", ["true"])
        if "initialization" in chosen:
            mode = values["initialization"]
            parameter_map["AutomaticTransformInitialization"] = ["false" if mode == "none" else "true"]
            parameter_map["AutomaticTransformInitializationMethod"] = [
                "CenterOfGravity" if mode == "moments" else "GeometricalCenter"
            ]
    if kind == "bspline":
        put("grid_spacing_mm", "FinalGridSpacingInPhysicalUnits", [f"{values['grid_spacing_mm']:g}"])
        levels = int(parameter_map.get("NumberOfResolutions", ["3"])[0])
        if "resolutions" in chosen or "GridSpacingSchedule" not in parameter_map:
            parameter_map["GridSpacingSchedule"] = grid_schedule(levels)
    metrics = list(parameter_map.get("Metric", [METRICS["ncc"]]))
    if "metric" in chosen:
        metrics = [METRICS[values["metric"]]] + [m for m in metrics[1:] if m not in METRICS.values()]
    weights = {m: parameter_map.get(f"Metric{i}Weight", ["1"])[0] for i, m in enumerate(metrics)}
    if kind == "bspline" and "bending_weight" in chosen:
        metrics = [m for m in metrics if m != BENDING_METRIC]
        if values["bending_weight"] > 0:
            metrics.append(BENDING_METRIC)
            weights[BENDING_METRIC] = f"{values['bending_weight']:g}"
    if with_points and POINTS_METRIC not in metrics:
        metrics.append(POINTS_METRIC)
        weights[POINTS_METRIC] = f"{values.get('points_weight', 0.1):g}"
    for key in [k for k in parameter_map if k.startswith("Metric") and k.endswith("Weight")]:
        del parameter_map[key]
    parameter_map["Metric"] = metrics
    for number, metric in enumerate(metrics):
        parameter_map[f"Metric{number}Weight"] = [weights.get(metric, "1")]
    parameter_map["Registration"] = [
        "MultiMetricMultiResolutionRegistration" if len(metrics) > 1 else "MultiResolutionRegistration"
    ]
    parameter_map["WriteResultImage"] = ["false"]
    parameter_map["WriteTransformParametersEachResolution"] = ["true"]
    return parameter_map
