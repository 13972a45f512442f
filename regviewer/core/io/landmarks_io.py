"""Landmark point files. For now: plain CSV in LPS mm.

Format: a header row ``x,y,z`` (``x,y`` in 2D) or ``name,x,y,z``, then one point per row, in mm,
LPS. Pairs are matched by row order between a fixed and a moving file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from regviewer.core.errors import ImageReadError


def read_points_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read ``(names, points)`` from a landmark CSV; names default to "P1", "P2" ..."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read landmarks ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ImageReadError(f"{path}: not a text CSV file") from None
    if not rows:
        raise ImageReadError(f"{path}: empty landmark file")
    header = [cell.strip().lower() for cell in rows[0]]
    axes = [axis for axis in ("x", "y", "z") if axis in header]
    if axes not in (["x", "y"], ["x", "y", "z"]):
        raise ImageReadError(f"{path}: landmark CSV needs a header 'x,y,z' or 'name,x,y,z', found {','.join(rows[0])}")
    columns = [header.index(axis) for axis in axes]
    name_column = header.index("name") if "name" in header else None
    names, points = [], []
    for line, row in enumerate(rows[1:], start=2):
        try:
            points.append([float(row[c]) for c in columns])
        except (ValueError, IndexError):
            raise ImageReadError(f"{path}: line {line} is not a point: {','.join(row)}") from None
        names.append(row[name_column].strip() if name_column is not None else f"P{len(points)}")
    array = np.array(points, dtype=np.float64).reshape(-1, len(axes))
    if not np.all(np.isfinite(array)):
        raise ImageReadError(f"{path}: landmark coordinates contain NaN or Inf")
    return names, array


def write_points_csv(path: str | Path, points: np.ndarray, names: list[str] | None = None) -> Path:
    """Write points (N, 2|3) in LPS mm with a ``name,x,y[,z]`` header."""
    path = Path(path)
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    names = names or [f"P{i + 1}" for i in range(len(points))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *"xyz"[: points.shape[1]]])
        for name, point in zip(names, points):
            writer.writerow([name, *(repr(float(v)) for v in point)])
    return path
