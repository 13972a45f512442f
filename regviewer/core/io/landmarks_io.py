"""RegViewer's own landmark CSV files, in LPS mm (other formats: ``landmark_formats.py``).

Two layouts, both with a header row, one landmark per row, coordinates in millimetres, LPS (ITK's
physical frame, what SimpleITK reports; NOT Slicer's RAS):

- a point list: ``name,x,y,z`` (``x,y`` in 2D; ``name`` optional; an optional ``active`` column
  holds true/false). Fixed and moving lists in two files are paired by row order or by name.
- a pair list: ``name,active,fixed_x,fixed_y,fixed_z,moving_x,moving_y,moving_z`` (no ``_z`` in 2D).
  An empty cell means the point is not placed yet.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError

_TRUE = ("1", "true", "yes", "on", "")
_FALSE = ("0", "false", "no", "off")


def read_rows(path: str | Path) -> list[list[str]]:
    """Non-empty CSV rows of a text file (clear errors for missing or binary files)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read landmarks ({error.strerror or error})") from None
    except (UnicodeDecodeError, csv.Error):
        raise ImageReadError(f"{path}: not a text CSV file") from None


def parse_flag(path: Path, line: int, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImageReadError(f"{path}: line {line}: active must be true or false, got {text!r}")


def _number(path: Path, line: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ImageReadError(f"{path}: line {line}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ImageReadError(f"{path}: line {line}: landmark coordinates contain NaN or Inf")
    return value


def read_point_table(path: str | Path) -> tuple[list[str], np.ndarray, list[bool]]:
    """Read ``(names, points (N, 2|3), active flags)`` from a point-list CSV; names default to P1, P2 ..."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise ImageReadError(f"{path}: empty landmark file")
    header = [cell.strip().lower() for cell in rows[0]]
    axes = [axis for axis in ("x", "y", "z") if axis in header]
    if axes not in (["x", "y"], ["x", "y", "z"]):
        raise ImageReadError(f"{path}: landmark CSV needs a header 'x,y,z' or 'name,x,y,z', found {','.join(rows[0])}")
    columns = [header.index(axis) for axis in axes]
    name_column = header.index("name") if "name" in header else None
    active_column = header.index("active") if "active" in header else None
    names, points, active = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(columns):
            raise ImageReadError(f"{path}: line {line} is not a point: {','.join(row)}")
        points.append([_number(path, line, row[c]) for c in columns])
        names.append(
            row[name_column].strip() if name_column is not None and name_column < len(row) else f"P{len(points)}"
        )
        active.append(
            parse_flag(path, line, row[active_column])
            if active_column is not None and active_column < len(row)
            else True
        )
    return names, np.array(points, dtype=np.float64).reshape(-1, len(axes)), active


def read_points_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read ``(names, points)`` from a point-list CSV; names default to "P1", "P2" ..."""
    names, points, _active = read_point_table(path)
    return names, points


def write_points_csv(
    path: str | Path, points: np.ndarray, names: list[str] | None = None, active: list[bool] | None = None
) -> Path:
    """Write points (N, 2|3) in LPS mm with a ``name,x,y[,z]`` header (plus ``active`` when given)."""
    path = Path(path)
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    names = names or [f"P{i + 1}" for i in range(len(points))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *"xyz"[: points.shape[1]]] + (["active"] if active is not None else []))
        for index, (name, point) in enumerate(zip(names, points)):
            flag = ["true" if active[index] else "false"] if active is not None else []
            writer.writerow([name, *(repr(float(v)) for v in point)] + flag)
    return path


def is_pair_csv(rows: list[list[str]]) -> bool:
    return bool(rows) and "fixed_x" in [cell.strip().lower() for cell in rows[0]]


def read_pair_table(path: str | Path) -> list[tuple[str, bool, np.ndarray | None, np.ndarray | None]]:
    """Rows ``(name, active, fixed point or None, moving point or None)`` of a pair-list CSV."""
    path = Path(path)
    rows = read_rows(path)
    if not is_pair_csv(rows):
        raise ImageReadError(f"{path}: a landmark pair CSV needs a header name,active,fixed_x,...,moving_x,...")
    header = [cell.strip().lower() for cell in rows[0]]
    ndim = 3 if "fixed_z" in header else 2
    columns = {
        side: [header.index(f"{side}_{axis}") if f"{side}_{axis}" in header else -1 for axis in "xyz"[:ndim]]
        for side in ("fixed", "moving")
    }
    if any(c < 0 for cs in columns.values() for c in cs):
        raise ImageReadError(f"{path}: the header must name {ndim} fixed and {ndim} moving coordinates")
    name_column = header.index("name") if "name" in header else None
    active_column = header.index("active") if "active" in header else None
    result = []
    for line, row in enumerate(rows[1:], start=2):
        row = row + [""] * (len(header) - len(row))
        points = {}
        for side, cs in columns.items():
            cells = [row[c].strip() for c in cs]
            if not any(cells):
                points[side] = None
            elif not all(cells):
                raise ImageReadError(f"{path}: line {line}: the {side} point has missing coordinates")
            else:
                points[side] = np.array([_number(path, line, cell) for cell in cells])
        name = row[name_column].strip() if name_column is not None and row[name_column].strip() else f"P{line - 1}"
        active = parse_flag(path, line, row[active_column]) if active_column is not None else True
        result.append((name, active, points["fixed"], points["moving"]))
    return result


def write_pair_table(path: str | Path, ndim: int, rows) -> Path:
    """Write ``(name, active, fixed or None, moving or None)`` rows as a pair-list CSV (LPS mm)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = "xyz"[:ndim]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "active"] + [f"fixed_{a}" for a in axes] + [f"moving_{a}" for a in axes])
        for name, active, fixed, moving in rows:
            cells = [[repr(float(v)) for v in point] if point is not None else [""] * ndim for point in (fixed, moving)]
            writer.writerow([name, "true" if active else "false"] + cells[0] + cells[1])
    return path
