"""Landmark files of other tools, read into and written from LPS mm (the only place they are converted).

Formats (``--to`` names), what they hold, and the frame assumed:

- ``csv``: RegViewer's own (landmarks_io.py): point lists or pair lists, names, active flags, LPS mm.
- ``fcsv``: 3D Slicer markups fiducials. The ``# CoordinateSystem =`` line is honoured: ``LPS`` or
  ``1`` as is, ``RAS`` or ``0`` with x and y negated; files without the line (Slicer before 4.11)
  are RAS. Written as LPS. Names in ``label``, active in ``sel`` (selected).
- ``mrk.json``: Slicer markups JSON (first point list of the file); ``coordinateSystem`` LPS / RAS
  honoured (RAS is the schema's default); written as LPS. Active in ``selected``.
- ``bigwarp``: BigWarp (Fiji) landmarks CSV, no header: ``name, active, moving x, y[, z], fixed
  (target) x, y[, z]``; unplaced points are written ``Infinity``. BigWarp works in the images'
  calibrated physical units with no direction matrix or LPS/RAS notion: we read and write the
  numbers as LPS mm unchanged, which is right for images opened in Fiji with the same calibration
  (pixel size and origin) as here, e.g. the 2D JPG/PNG/TIFF pairs. Pairs only.
- ``elastix``: elastix / transformix input points: a ``point`` (physical, LPS mm: elastix is ITK)
  or ``index`` (voxel indices: needs the image geometry; elastix's default when the line is
  missing) line, a count line, one point per line.
  No names or active flags. Transformix ``outputpoints.txt`` is read as pairs: InputPoint (fixed
  space) -> OutputPoint (moving space).
- ``ants``: ``antsApplyTransformsToPoints`` CSV ``x,y,z,t,label,comment`` in LPS (ITK physical
  space); names go to ``comment``. No active flags.

Single point lists are ``PointSet``; pair files (csv pair lists, BigWarp, transformix output) give
``LandmarkPair`` rows. ``load_pairs`` builds pairs from one pair file or from two point lists, paired
by row order or by name.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError, InputMismatchError
from regviewer.core.image import Geometry
from regviewer.core.io import landmarks_io
from regviewer.core.landmarks import LandmarkPair

FORMATS = ("csv", "fcsv", "mrk.json", "bigwarp", "elastix", "ants")
PAIR_FORMATS = ("csv", "bigwarp")
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])
_MARKUPS_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)


@dataclass
class PointSet:
    """One list of points: names, (N, 2|3) LPS mm coordinates, active flags."""

    names: list[str]
    points: np.ndarray
    active: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float64)
        self.points = points.reshape(len(self.names), -1) if points.size else np.zeros((0, 3))
        if not self.active:
            self.active = [True] * len(self.names)


# ---- format detection -----------------------------------------------------------------------------
def format_of(path: str | Path, to: str | None = None) -> str:
    """The format to WRITE ``path`` in: ``to`` if given, else from the extension (.csv: our CSV)."""
    if to is not None:
        if to not in FORMATS:
            raise InputMismatchError(f"unknown landmark format {to!r}; choose from {', '.join(FORMATS)}")
        return to
    name = Path(path).name.lower()
    if name.endswith(".mrk.json") or name.endswith(".json"):
        return "mrk.json"
    if name.endswith(".fcsv"):
        return "fcsv"
    if name.endswith((".txt", ".pts")):
        return "elastix"
    if name.endswith(".csv"):
        return "csv"
    raise InputMismatchError(
        f"{path}: cannot tell the landmark format from the name; use .csv, .fcsv, .mrk.json, .txt or --to"
    )


def detect_format(path: str | Path) -> str:
    """The format of an existing file (content first, then extension): FORMATS or "outputpoints"."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such landmark file")
    name = path.name.lower()
    if name.endswith(".json"):
        return "mrk.json"
    try:
        head = path.read_text(encoding="utf-8-sig", errors="strict")[:4096]
    except UnicodeDecodeError:
        raise ImageReadError(f"{path}: not a text landmark file") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read landmarks ({error.strerror or error})") from None
    if name.endswith(".fcsv") or head.lstrip().startswith("# Markups fiducial file"):
        return "fcsv"
    if "OutputPoint" in head:
        return "outputpoints"
    first = head.strip().splitlines()[0].strip().lower() if head.strip() else ""
    if first in ("point", "index") or name.endswith((".txt", ".pts")):
        return "elastix"
    cells = [cell.strip().strip('"').lower() for cell in first.split(",")]
    if len(cells) >= 6 and cells[1] in ("true", "false"):
        return "bigwarp"
    if "x" in cells and ("t" in cells or "comment" in cells or "label" in cells) and "name" not in cells:
        return "ants"
    if "x" in cells or "fixed_x" in cells:
        return "csv"
    raise ImageReadError(
        f"{path}: not a landmark file RegViewer knows (csv, fcsv, mrk.json, BigWarp csv, elastix points, ANTs csv)"
    )


# ---- reading ------------------------------------------------------------------------------------
def read_landmark_file(path: str | Path, geometry: Geometry | None = None) -> PointSet | list[LandmarkPair]:
    """A point list (PointSet) or, for pair files, a list of LandmarkPair (LPS mm)."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "csv":
        if landmarks_io.is_pair_csv(landmarks_io.read_rows(path)):
            return [
                LandmarkPair(name, active, _tuple(f), _tuple(m))
                for name, active, f, m in landmarks_io.read_pair_table(path)
            ]
        names, points, active = landmarks_io.read_point_table(path)
        return PointSet(names, points, active)
    reader = {
        "fcsv": _read_fcsv,
        "mrk.json": _read_mrk_json,
        "bigwarp": _read_bigwarp,
        "ants": _read_ants,
        "outputpoints": _read_outputpoints,
    }.get(kind)
    if reader is not None:
        return reader(path)
    return _read_elastix(path, geometry)


def read_point_set(path: str | Path, side: str = "fixed", geometry: Geometry | None = None) -> PointSet:
    """A point list; from a pair file, its ``side`` ("fixed" or "moving") points (all must be placed)."""
    content = read_landmark_file(path, geometry)
    if isinstance(content, PointSet):
        return content
    missing = [pair.name for pair in content if pair.point(side) is None]
    if missing:
        raise InputMismatchError(f"{path}: {len(missing)} landmark(s) have no {side} point ({', '.join(missing[:5])})")
    return PointSet([p.name for p in content], np.array([p.point(side) for p in content]), [p.active for p in content])


def load_pairs(
    fixed_path: str | Path,
    moving_path: str | Path | None = None,
    ndim: int | None = None,
    pair_by: str = "order",
    fixed_geometry: Geometry | None = None,
    moving_geometry: Geometry | None = None,
) -> list[LandmarkPair]:
    """Pairs from one pair file, or from a fixed and a moving point list paired by "order" or "label" (name).

    ``ndim``: the images' dimension; 3D points with z = 0 (Slicer writes 3 coordinates) fit 2D images.
    """
    if pair_by not in ("order", "label"):
        raise InputMismatchError(f"pair landmarks by 'order' or 'label', not {pair_by!r}")
    if moving_path is None:
        content = read_landmark_file(fixed_path, fixed_geometry)
        if isinstance(content, PointSet):
            raise InputMismatchError(f"{fixed_path} holds one list of points, not pairs: give the moving landmarks too")
        pairs = content
    else:
        fixed = read_point_set(fixed_path, "fixed", fixed_geometry)
        moving = read_point_set(moving_path, "moving", moving_geometry)
        pairs = _pair_lists(fixed, moving, pair_by, fixed_path, moving_path)
    if ndim is not None:
        pairs = [
            LandmarkPair(
                p.name,
                p.active,
                fit_dimension(p.fixed, ndim, fixed_path),
                fit_dimension(p.moving, ndim, moving_path or fixed_path),
            )
            for p in pairs
        ]
    return pairs


def _pair_lists(fixed: PointSet, moving: PointSet, pair_by: str, fixed_path, moving_path) -> list[LandmarkPair]:
    if pair_by == "order":
        if len(fixed.names) != len(moving.names):
            raise InputMismatchError(
                f"{len(fixed.names)} fixed landmarks ({fixed_path}) but {len(moving.names)} moving landmarks "
                f"({moving_path}): pairs are matched by row (or pair them by label)"
            )
        return [
            LandmarkPair(name, fixed.active[i] and moving.active[i], _tuple(fixed.points[i]), _tuple(moving.points[i]))
            for i, name in enumerate(fixed.names)
        ]
    for points, path in ((fixed, fixed_path), (moving, moving_path)):
        duplicates = sorted({name for name in points.names if points.names.count(name) > 1})
        if duplicates:
            raise InputMismatchError(
                f"{path}: landmark names repeat ({', '.join(duplicates[:5])}): cannot pair by label"
            )
    moving_rows = {name: i for i, name in enumerate(moving.names)}
    common = [name for name in fixed.names if name in moving_rows]
    if not common:
        raise InputMismatchError(f"no landmark name appears in both {fixed_path} and {moving_path}")
    pairs = []
    for i, name in enumerate(fixed.names):
        j = moving_rows.get(name)
        pairs.append(
            LandmarkPair(
                name,
                fixed.active[i] and (j is None or moving.active[j]),
                _tuple(fixed.points[i]),
                None if j is None else _tuple(moving.points[j]),
            )
        )
    pairs += [
        LandmarkPair(name, moving.active[j], None, _tuple(moving.points[j]))
        for j, name in enumerate(moving.names)
        if name not in set(fixed.names)
    ]
    return pairs


def _tuple(point) -> tuple[float, ...] | None:
    return None if point is None else tuple(float(v) for v in np.asarray(point).reshape(-1))


def fit_dimension(point, ndim: int, path) -> tuple[float, ...] | None:
    """A point for ndim-D images: 3D points with z = 0 (Slicer stores 3 coordinates) fit 2D images."""
    if point is None:
        return None
    if len(point) == ndim:
        return tuple(point)
    if len(point) == 3 and ndim == 2:
        if abs(point[2]) > 1e-6:
            raise InputMismatchError(f"{path}: 3D landmarks (z = {point[2]:g}) for 2D images")
        return tuple(point[:2])
    raise InputMismatchError(f"{path}: {len(point)}D landmarks for {ndim}D images")


def _floats(path: Path, line: int, cells) -> list[float]:
    try:
        values = [float(cell) for cell in cells]
    except ValueError:
        raise ImageReadError(f"{path}: line {line}: expected numbers, got {' '.join(map(str, cells))!r}") from None
    return values


def _read_fcsv(path: Path) -> PointSet:
    system = None
    columns = ["id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatedNodeID"]
    names, points, active = [], [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            if row[0].startswith("#"):
                text = ",".join(row)
                found = re.match(r"#\s*CoordinateSystem\s*=\s*(\S+)", text)
                if found:
                    system = found.group(1).upper()
                found = re.match(r"#\s*columns\s*=\s*(.+)", text)
                if found:
                    columns = [c.strip() for c in found.group(1).split(",")]
                continue
            record = dict(zip(columns, row))
            if not all(k in record for k in "xyz"):
                raise ImageReadError(f"{path}: line {line} is not a fiducial: {','.join(row)}")
            points.append(_floats(path, line, [record["x"], record["y"], record["z"]]))
            names.append(record.get("label", "").strip() or f"F-{len(points)}")
            active.append(record.get("sel", "1").strip() not in ("0", "false"))
    if system not in (None, "RAS", "LPS", "0", "1"):
        raise ImageReadError(f"{path}: unknown CoordinateSystem {system!r} (expected RAS or LPS)")
    array = np.array(points, dtype=np.float64).reshape(-1, 3)
    if system in (None, "RAS", "0"):
        array = array * _RAS_TO_LPS
    return PointSet(names, _finite(path, array), active)


def _read_mrk_json(path: Path) -> PointSet:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
        markup = next(m for m in document["markups"] if "controlPoints" in m)
        system = str(markup.get("coordinateSystem", "LPS")).upper()
        controls = markup["controlPoints"]
        names = [str(c.get("label") or f"F-{i + 1}") for i, c in enumerate(controls)]
        points = np.array([[float(v) for v in c["position"]] for c in controls], dtype=np.float64).reshape(-1, 3)
        active = [bool(c.get("selected", True)) for c in controls]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, StopIteration, TypeError, ValueError) as error:
        raise ImageReadError(f"{path}: not a Slicer markups file ({type(error).__name__}: {error})") from None
    if system not in ("RAS", "LPS"):
        raise ImageReadError(f"{path}: unknown coordinateSystem {system!r} (expected RAS or LPS)")
    if system == "RAS":
        points = points * _RAS_TO_LPS
    return PointSet(names, _finite(path, points), active)


def _read_bigwarp(path: Path) -> list[LandmarkPair]:
    pairs = []
    for line, row in enumerate(landmarks_io.read_rows(path), start=1):
        cells = [cell.strip().strip('"') for cell in row]
        if len(cells) not in (6, 8) and not (len(cells) > 8 and not any(cells[8:])):
            raise ImageReadError(
                f"{path}: line {line}: a BigWarp landmark has 6 (2D) or 8 (3D) columns, found {len(cells)}"
            )
        ndim = 2 if len(cells) == 6 else 3
        values = _floats(path, line, cells[2 : 2 + 2 * ndim])
        moving, fixed = values[:ndim], values[ndim:]
        pairs.append(
            LandmarkPair(
                cells[0] or f"Pt-{line - 1}",
                landmarks_io.parse_flag(path, line, cells[1]),
                _tuple(fixed) if np.all(np.isfinite(fixed)) else None,
                _tuple(moving) if np.all(np.isfinite(moving)) else None,
            )
        )
    if not pairs:
        raise ImageReadError(f"{path}: empty landmark file")
    return pairs


def _read_ants(path: Path) -> PointSet:
    rows = landmarks_io.read_rows(path)
    header = [cell.strip().lower() for cell in rows[0]]
    axes = [header.index(a) for a in "xyz" if a in header]
    if len(axes) not in (2, 3):
        raise ImageReadError(f"{path}: an ANTs point CSV needs a header x,y,z,t,label,comment")
    names, points = [], []
    for line, row in enumerate(rows[1:], start=2):
        cells = row + [""] * (len(header) - len(row))
        points.append(_floats(path, line, [cells[c] for c in axes]))
        comment = cells[header.index("comment")].strip() if "comment" in header else ""
        label = cells[header.index("label")].strip() if "label" in header else ""
        names.append(comment or label or f"P{len(points)}")
    return PointSet(names, _finite(path, np.array(points).reshape(-1, len(axes))))


def _read_elastix(path: Path, geometry: Geometry | None) -> PointSet:
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kind = lines[0][0].lower() if lines and lines[0][0].lower() in ("point", "index") else "index"  # elastix's default
    start = 1 if lines and lines[0][0].lower() in ("point", "index") else 0
    try:
        count = int(lines[start][0])
    except (IndexError, ValueError):
        raise ImageReadError(
            f"{path}: an elastix point file starts with 'point' or 'index' and the number of points"
        ) from None
    rows = lines[start + 1 :]
    if len(rows) != count:
        raise ImageReadError(f"{path}: the file announces {count} points but holds {len(rows)}")
    points = np.array([_floats(path, start + 2 + i, row) for i, row in enumerate(rows)], dtype=np.float64)
    if count and points.shape[1] not in (2, 3):
        raise ImageReadError(f"{path}: points must have 2 or 3 coordinates")
    if kind == "index":
        if geometry is None:
            raise InputMismatchError(
                f"{path}: holds voxel indices ('index'): open it with its image to convert them to mm"
            )
        points = geometry.index_to_physical(points)
    return PointSet(
        [f"P{i + 1}" for i in range(count)], _finite(path, points.reshape(count, -1) if count else np.zeros((0, 3)))
    )


def _read_outputpoints(path: Path) -> list[LandmarkPair]:
    pairs = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        found = {key: re.search(rf"{key}\s*=\s*\[([^\]]*)\]", text) for key in ("InputPoint", "OutputPoint")}
        if found["OutputPoint"] is None or found["InputPoint"] is None:
            raise ImageReadError(f"{path}: line {line} is not a transformix output point")
        fixed, moving = (_floats(path, line, found[key].group(1).split()) for key in ("InputPoint", "OutputPoint"))
        pairs.append(LandmarkPair(f"P{len(pairs) + 1}", True, _tuple(fixed), _tuple(moving)))
    return pairs


def _finite(path: Path, points: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(points)):
        raise ImageReadError(f"{path}: landmark coordinates contain NaN or Inf")
    return points


# ---- writing ------------------------------------------------------------------------------------
def write_point_set(path: str | Path, points: PointSet, to: str | None = None) -> Path:
    """Write a point list (LPS mm) in ``to`` or the extension's format (``bigwarp`` needs pairs)."""
    path = Path(path)
    kind = format_of(path, to)
    array = np.atleast_2d(points.points)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "bigwarp":
        raise InputMismatchError("a BigWarp file holds pairs: give fixed and moving landmarks")
    if kind == "csv":
        return landmarks_io.write_points_csv(path, array, points.names, points.active)
    if kind == "elastix":
        lines = ["point", str(len(array))] + [" ".join(repr(float(v)) for v in p) for p in array]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    if kind == "ants":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["x", "y", "z", "t", "label", "comment"][: 2 if array.shape[1] == 2 else 3] + ["t", "label", "comment"]
            )
            for i, (name, point) in enumerate(zip(points.names, array)):
                writer.writerow([repr(float(v)) for v in point] + ["0", str(i + 1), name])
        return path
    lifted = np.hstack([array, np.zeros((len(array), 1))]) if array.shape[1] == 2 else array
    if kind == "fcsv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            handle.write(
                "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n"
                "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
            )
            writer = csv.writer(handle, lineterminator="\n")
            for i, (name, point) in enumerate(zip(points.names, lifted)):
                writer.writerow(
                    [
                        i + 1,
                        *(repr(float(v)) for v in point),
                        0,
                        0,
                        0,
                        1,
                        1,
                        1 if points.active[i] else 0,
                        0,
                        name,
                        "",
                        "",
                    ]
                )
        return path
    controls = [
        {
            "id": str(i + 1),
            "label": name,
            "description": "",
            "position": [float(v) for v in point],
            "selected": bool(points.active[i]),
            "locked": False,
            "visibility": True,
            "positionStatus": "defined",
        }
        for i, (name, point) in enumerate(zip(points.names, lifted))
    ]
    document = {
        "@schema": _MARKUPS_SCHEMA,
        "markups": [
            {"type": "Fiducial", "coordinateSystem": "LPS", "coordinateUnits": "mm", "controlPoints": controls}
        ],
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def write_pairs(path: str | Path, pairs: list[LandmarkPair], ndim: int, to: str | None = None) -> Path:
    """Write pairs as our pair CSV or a BigWarp CSV (unplaced points: empty / Infinity)."""
    path = Path(path)
    kind = format_of(path, to)
    if kind not in PAIR_FORMATS:
        raise InputMismatchError(
            f"{kind} files hold one list of points, not pairs: write the fixed and moving points separately "
            "(choose a side) or use csv / bigwarp"
        )
    if kind == "csv":
        return landmarks_io.write_pair_table(path, ndim, [(p.name, p.active, p.fixed, p.moving) for p in pairs])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        for pair in pairs:
            cells = [
                [repr(float(v)) for v in point] if point is not None else ["Infinity"] * ndim
                for point in (pair.moving, pair.fixed)
            ]
            writer.writerow([pair.name, "true" if pair.active else "false"] + cells[0] + cells[1])
    return path
