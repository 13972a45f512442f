"""Write a registration result with stable names that scripts can rely on (see README, "Outputs").

OUT/warped.<ext>             moving image resampled into the fixed grid (format family of the moving input)
OUT/transform.tfm | .h5      fixed -> moving transform, ITK format (.tfm when linear, .h5 otherwise)
OUT/displacement.nii.gz      dense fixed -> moving displacement, mm, LPS, on the fixed grid
OUT/jacobian.nii.gz          Jacobian determinant of the fixed -> moving map on the fixed grid (<= 0: folding)
OUT/warped_labels.<ext>      moving labels resampled with nearest neighbour (when labels are given)
OUT/metrics.json             {"method", "status", "runtime_s", "stages", "before", "after", "folds", "warnings"}

Every file is written atomically (complete under its name, or absent), the transform first: a cancel,
a kill or a full disk while writing never leaves a truncated file, and keeps the transform when it
came that far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regviewer.core.evaluation import EvaluationData, before_after, displacement_field, quality_warnings
from regviewer.core.io import default_extension, write_image
from regviewer.core.io.atomic import write_text_atomic
from regviewer.core.io.transforms_io import write_displacement_field, write_transform
from regviewer.core.resample import resample_image
from regviewer.registration.base import Result
from regviewer.registration.jacobian_output import write_jacobian_map


def write_result(
    result: Result,
    data: EvaluationData,
    out_dir: str | Path,
    moving_path: str | Path,
    labels_path: str | Path | None = None,
) -> dict[str, Any]:
    """Write images, transform, field and metrics.json; return the metrics document."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    transform = result.transform
    # The transform first, before anything slow: a cancel or a failure later still leaves it.
    files = {"transform": write_transform(transform, out / transform_name(transform))}
    # The whole map sampled once on the fixed grid: exact at the voxel centres, and resampling through
    # it is much faster than through a B-spline (used for every image written or scored below).
    field = displacement_field(transform, data)
    files["displacement"] = write_displacement_field(field, out / "displacement.nii.gz")
    warped = resample_image(data.moving, data.fixed.geometry, field, "linear")
    files["warped"] = write_image(warped, out / f"warped{default_extension(moving_path)}")
    files["jacobian"], folds = write_jacobian_map(field, out / "jacobian.nii.gz")
    warped_labels = None
    if data.moving_labels is not None:
        warped_labels = resample_image(data.moving_labels, data.fixed.geometry, field, "label")
        extension = default_extension(labels_path or moving_path)
        files["warped_labels"] = write_image(warped_labels, out / f"warped_labels{extension}")
    figures = before_after(transform, data, field, warped, warped_labels)
    warnings = [line.removeprefix("warning: ") for line in result.log if line.startswith("warning: ")]
    warnings += quality_warnings(figures["before"], figures["after"])
    document = {
        "method": result.method,
        "status": result.status,
        "message": result.message,
        "runtime_s": round(result.runtime_s, 3),
        "direction": "transform maps fixed-space points (LPS mm) to moving-space points",
        "stages": result.parameters.get("stages", []),
        **figures,
        "folds": folds,
        "warnings": warnings,
        "files": {name: path.name for name, path in files.items()},
    }
    write_text_atomic(out / "metrics.json", json.dumps(document, indent=1, default=_json_default))
    return document


def transform_name(transform) -> str:
    """File name of the transform output: .tfm for a linear map, .h5 (HDF5) for anything holding a field."""
    return "transform.tfm" if transform.is_linear else "transform.h5"


def output_paths(out_dir: str | Path, moving_path: str | Path, labels_path: str | Path | None = None) -> list[Path]:
    """Every file ``write_result`` may write in ``out_dir`` (checked against the inputs before a run)."""
    out = Path(out_dir)
    names = [
        "transform.tfm",
        "transform.h5",
        "displacement.nii.gz",
        f"warped{default_extension(moving_path)}",
        "jacobian.nii.gz",
        "metrics.json",
    ]
    if labels_path:
        names.append(f"warped_labels{default_extension(labels_path)}")
    return [out / name for name in names]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
