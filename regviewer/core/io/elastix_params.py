"""elastix TransformParameters files: read them as RegViewer transforms, write ours for transformix.

elastix stores the fixed -> moving map (the resampling direction), RegViewer's convention, in ITK's
LPS physical space, so nothing is inverted or flipped here. A file may name the transform it starts
from (``InitialTransformParameterFileName``, older spelling ``InitialTransformParametersFileName``);
with ``HowToCombineTransforms "Compose"`` elastix applies the initial transform first:
``T(x) = current(initial(x))``, i.e. ``CompositeTransform([initial, current])`` in RegViewer's
applied-order list. Supported: Translation, Euler, Similarity, Affine, BSpline (and its recursive
variant), chained to any depth. Only SimpleITK and numpy are used: no ITK Python, no elastix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import ImageReadError, InputMismatchError
from regviewer.core.image import Geometry
from regviewer.core.io.atomic import write_text_atomic
from regviewer.core.transforms import (
    AffineTransform,
    BSplineTransform,
    CompositeTransform,
    Transform,
    simplify,
    transform_from_sitk,
)

_ENTRY = re.compile(r"^\s*\(\s*([A-Za-z_][\w]*)\s*(.*?)\s*\)\s*$")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
INITIAL_KEYS = ("InitialTransformParameterFileName", "InitialTransformParametersFileName")
NO_INITIAL = "NoInitialTransform"
MAX_CHAIN = 32


def looks_like_elastix(path: str | Path) -> bool:
    """True when the file's first lines hold an elastix ``(Transform "...")`` or ``(TransformParameters ...)`` entry."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return bool(re.search(r'^\s*\(\s*Transform\s+"', head, re.MULTILINE)) and "(TransformParameters" in head


def _strip_comment(line: str) -> str:
    """The line without a ``//`` comment (a ``//`` inside a quoted path is kept)."""
    quoted = False
    for position, character in enumerate(line):
        if character == '"':
            quoted = not quoted
        elif not quoted and line.startswith("//", position):
            return line[:position]
    return line


def parse_parameter_text(text: str) -> dict[str, list[Any]]:
    """``(Name v1 v2 ...)`` lines -> {Name: [values]}; numbers become floats, quoted strings stay strings."""
    entries: dict[str, list[Any]] = {}
    for raw in text.splitlines():
        match = _ENTRY.match(_strip_comment(raw))
        if not match:
            continue
        values: list[Any] = []
        for quoted, bare in _TOKEN.findall(match.group(2)):
            if quoted or not bare:
                values.append(quoted)
                continue
            try:
                values.append(float(bare))
            except ValueError:
                values.append(bare)
        entries[match.group(1)] = values
    return entries


def _numbers(entries: dict[str, list[Any]], key: str, path: Path, count: int | None = None) -> np.ndarray:
    if key not in entries:
        raise ImageReadError(f"{path}: elastix file without ({key} ...)")
    try:
        values = np.array([float(v) for v in entries[key]], dtype=np.float64)
    except (TypeError, ValueError):
        raise ImageReadError(f"{path}: ({key} ...) holds non-numbers") from None
    if count is not None and len(values) != count:
        raise ImageReadError(f"{path}: ({key} ...) has {len(values)} values, expected {count}")
    return values


def _text(entries: dict[str, list[Any]], key: str, default: str = "") -> str:
    values = entries.get(key)
    return str(values[0]) if values else default


def _centre(entries: dict[str, list[Any]], ndim: int, path: Path) -> tuple[float, ...]:
    if "CenterOfRotationPoint" not in entries:
        return (0.0,) * ndim
    return tuple(_numbers(entries, "CenterOfRotationPoint", path, ndim))


def _one_transform(entries: dict[str, list[Any]], path: Path) -> Transform:
    """The transform of one file, without its initial transform."""
    kind = _text(entries, "Transform")
    ndim = int(_numbers(entries, "FixedImageDimension", path, 1)[0]) if "FixedImageDimension" in entries else 3
    if ndim not in (2, 3):
        raise ImageReadError(f"{path}: {ndim}D elastix transforms are not supported (2D and 3D only)")
    params = _numbers(entries, "TransformParameters", path)
    centre = _centre(entries, ndim, path)
    expected = {
        "TranslationTransform": ndim,
        "EulerTransform": 3 if ndim == 2 else 6,
        "SimilarityTransform": 4 if ndim == 2 else 7,
        "AffineTransform": ndim * ndim + ndim,
    }
    if kind in expected and len(params) != expected[kind]:
        raise ImageReadError(f"{path}: a {ndim}D {kind} has {expected[kind]} parameters, the file has {len(params)}")
    if kind == "TranslationTransform":
        return AffineTransform(np.eye(ndim), params)
    if kind == "EulerTransform":
        if ndim == 2:
            euler = sitk.Euler2DTransform(centre, float(params[0]), tuple(params[1:]))
        else:
            euler = sitk.Euler3DTransform()
            euler.SetCenter(centre)
            euler.SetComputeZYX(_text(entries, "ComputeZYX", "false").lower() == "true")
            euler.SetParameters(tuple(params))
        return transform_from_sitk(euler)
    if kind == "SimilarityTransform":
        similarity = sitk.Similarity2DTransform() if ndim == 2 else sitk.Similarity3DTransform()
        similarity.SetCenter(centre)
        similarity.SetParameters(tuple(params))
        return transform_from_sitk(similarity)
    if kind == "AffineTransform":
        affine = sitk.AffineTransform(ndim)
        affine.SetCenter(centre)
        affine.SetParameters(tuple(params))
        return transform_from_sitk(affine)
    if kind in ("BSplineTransform", "RecursiveBSplineTransform"):
        return _bspline(entries, ndim, params, path)
    raise ImageReadError(
        f"{path}: elastix transform {kind or '(none)'} is not supported "
        "(Translation, Euler, Similarity, Affine and BSpline are)"
    )


def _bspline(entries: dict[str, list[Any]], ndim: int, params: np.ndarray, path: Path) -> Transform:
    order = (
        int(_numbers(entries, "BSplineTransformSplineOrder", path, 1)[0])
        if "BSplineTransformSplineOrder" in entries
        else 3
    )
    if order != 3 or _text(entries, "UseCyclicTransform", "false").lower() == "true":
        raise ImageReadError(f"{path}: only cubic, non-cyclic elastix B-splines are supported")
    size = _numbers(entries, "GridSize", path, ndim).astype(int)
    spacing = _numbers(entries, "GridSpacing", path, ndim)
    origin = _numbers(entries, "GridOrigin", path, ndim)
    # elastix lists direction matrices column by column (Fortran order); ITK's fixed parameters row by row
    direction = (
        _numbers(entries, "GridDirection", path, ndim * ndim).reshape(ndim, ndim).T
        if "GridDirection" in entries
        else np.eye(ndim)
    )
    index = _numbers(entries, "GridIndex", path, ndim) if "GridIndex" in entries else np.zeros(ndim)
    # ITK's BSplineTransform grid starts at index 0: move a non-zero start index into the origin.
    origin = origin + direction @ (index * spacing)
    if len(params) != ndim * int(np.prod(size)):
        raise ImageReadError(f"{path}: {len(params)} B-spline parameters for a {'x'.join(map(str, size))} grid")
    transform = sitk.BSplineTransform(ndim, 3)
    transform.SetFixedParameters(tuple(float(v) for v in (*size, *origin, *spacing, *direction.reshape(-1))))
    transform.SetParameters(tuple(params))
    return BSplineTransform(transform)


def _initial_path(entries: dict[str, list[Any]], path: Path) -> Path | None:
    name = next((_text(entries, key) for key in INITIAL_KEYS if key in entries), NO_INITIAL)
    if not name or name == NO_INITIAL:
        return None
    candidate = Path(name)
    for option in (candidate, path.parent / candidate, path.parent / candidate.name):
        if option.exists():
            return option
    raise ImageReadError(f"{path}: its initial transform {name} was not found (looked beside the file too)")


def read_elastix_transform(path: str | Path, follow_initial: bool = True) -> Transform:
    """Read an elastix TransformParameters file (and its chain of initial transforms) as fixed -> moving.

    With ``follow_initial`` false only the file's own transform is read (the engine composes it with
    the initial transform object it already holds).
    """
    path = Path(path)
    chain: list[Transform] = []
    seen: set[Path] = set()
    current: Path | None = path
    while current is not None:
        if current.resolve() in seen or len(seen) >= MAX_CHAIN:
            raise ImageReadError(f"{path}: its chain of initial transforms loops or is too long")
        seen.add(current.resolve())
        try:
            entries = parse_parameter_text(current.read_text(encoding="utf-8", errors="replace"))
        except OSError as error:
            raise ImageReadError(f"{current}: cannot read ({error.strerror or error})") from None
        combine = _text(entries, "HowToCombineTransforms", "Compose")
        current_transform = _one_transform(entries, current)
        next_path = _initial_path(entries, current) if follow_initial else None
        if next_path is not None and combine != "Compose":
            raise ImageReadError(f'{current}: HowToCombineTransforms {combine!r} is not supported (only "Compose")')
        chain.insert(0, current_transform)  # initial transforms are applied first
        current = next_path
    return simplify(CompositeTransform(chain)) if len(chain) > 1 else chain[0]


# ---- writing ----------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (bool, np.bool_)):
        return '"true"' if value else '"false"'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


def format_parameter_text(entries: dict[str, Iterable[Any] | Any]) -> str:
    """{Name: values} -> elastix text, one ``(Name v1 v2 ...)`` per line."""
    lines = []
    for key, values in entries.items():
        items = values if isinstance(values, (list, tuple, np.ndarray)) else [values]
        lines.append(f"({key} {' '.join(_format(v) for v in items)})")
    return "\n".join(lines) + "\n"


def grid_entries(geometry: Geometry) -> dict[str, Any]:
    """The output-grid and resampling entries transformix needs (the fixed image geometry, linear interpolation)."""
    ndim = geometry.ndim
    return {
        "FixedImageDimension": ndim,
        "MovingImageDimension": ndim,
        "FixedInternalImagePixelType": "float",
        "MovingInternalImagePixelType": "float",
        "Size": [int(n) for n in geometry.size],
        "Index": [0] * ndim,
        "Spacing": [float(v) for v in geometry.spacing],
        "Origin": [float(v) for v in geometry.origin],
        "Direction": [float(v) for v in np.asarray(geometry.direction).reshape(-1, order="F")],  # column by column
        "UseDirectionCosines": True,
        "HowToCombineTransforms": "Compose",
        "ResampleInterpolator": "FinalLinearInterpolator",  # what RegViewer's warped image uses
        "FinalBSplineInterpolationOrder": 1,
        "Resampler": "DefaultResampler",
        "DefaultPixelValue": 0,
        "ResultImageFormat": "nii",
        "ResultImagePixelType": "float",
        "CompressResultImage": False,
    }


def _transform_entries(transform: Transform) -> dict[str, Any]:
    ndim = transform.ndim
    if isinstance(transform, AffineTransform):
        return {
            "Transform": "AffineTransform",
            "NumberOfParameters": ndim * ndim + ndim,
            "TransformParameters": [*transform.matrix.reshape(-1), *transform.translation],
            "CenterOfRotationPoint": [0.0] * ndim,
        }
    if isinstance(transform, BSplineTransform):
        itk_bspline = transform.to_sitk()
        fixed = np.array(itk_bspline.GetFixedParameters())
        params = itk_bspline.GetParameters()
        return {
            "Transform": "BSplineTransform",
            "NumberOfParameters": len(params),
            "TransformParameters": list(params),
            "GridSize": [int(v) for v in fixed[:ndim]],
            "GridIndex": [0] * ndim,
            "GridOrigin": list(fixed[ndim : 2 * ndim]),
            "GridSpacing": list(fixed[2 * ndim : 3 * ndim]),
            "GridDirection": list(fixed[3 * ndim :].reshape(ndim, ndim).reshape(-1, order="F")),  # column by column
            "BSplineTransformSplineOrder": 3,
            "UseCyclicTransform": False,
        }
    raise InputMismatchError(
        f"{transform.describe()}: elastix files hold linear and B-spline transforms only "
        "(export displacement fields as an image instead)"
    )


def write_elastix_transform(transform: Transform, geometry: Geometry, path: str | Path) -> list[Path]:
    """Write ``transform`` (fixed -> moving) as elastix TransformParameters file(s) for the fixed ``geometry``.

    A chain is written as one file per part, the first-applied part first, each naming the previous
    one as its initial transform (absolute path, as transformix resolves it from its working folder);
    ``path`` holds the last part, so ``transformix -tp path`` applies the whole chain. Returns the files.
    """
    path = Path(path)
    if transform.ndim != geometry.ndim:
        raise InputMismatchError(f"a {transform.ndim}D transform cannot be written for a {geometry.ndim}D grid")
    simple = simplify(transform)
    parts = list(simple.transforms) if isinstance(simple, CompositeTransform) else [simple]
    merged: list[Transform] = []
    for part in parts:  # neighbouring linear parts collapse into one affine
        if merged and isinstance(part, AffineTransform) and isinstance(merged[-1], AffineTransform):
            merged[-1] = merged[-1].compose(part)
        else:
            merged.append(part)
    entries_list = [_transform_entries(part) for part in merged]  # refuses unsupported parts before writing
    written: list[Path] = []
    previous = NO_INITIAL
    for number, entries in enumerate(entries_list):
        target = (
            path
            if number == len(entries_list) - 1
            else path.with_name(f"{path.stem}.part{number}{path.suffix or '.txt'}")
        )
        content = {**entries, "InitialTransformParameterFileName": previous, **grid_entries(geometry)}
        header = "// elastix TransformParameters written by RegViewer: fixed -> moving, LPS mm (ITK physical space)\n"
        write_text_atomic(target, header + format_parameter_text(content))
        written.append(target)
        previous = str(target.resolve())
    return written
