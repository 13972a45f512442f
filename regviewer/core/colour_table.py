"""Names and colours of label values: FreeSurfer's table, user files, or a generic table (Qt-free).

``table_for(values)`` picks the bundled FreeSurfer subset when every label value of a map is a
FreeSurfer aseg value and there are enough of them to be a whole-brain segmentation (at least
``FREESURFER_MIN_LABELS``, so that a mask with labels 1 and 2 is not called "Left-Cerebral-
Exterior"); otherwise a generic table with "Label N" names and well separated hues.

``read_colour_table(path)`` reads FreeSurfer / 3D Slicer tables (``value name R G B [A]``) and
ITK-SNAP label description files (``value R G B A visible mesh "name"``).
"""

from __future__ import annotations

import colorsys
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from regviewer import paths
from regviewer.core.errors import ImageReadError

FREESURFER_LUT = paths.RESOURCES / "colour_tables" / "FreeSurferColorLUT_subset.txt"
FREESURFER_MIN_LABELS = 8


@dataclass
class ColourTable:
    """Label value -> (name, RGB) with a fallback for values the table does not list."""

    names: dict[int, str] = field(default_factory=dict)
    colours: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    source: str = "generic"

    def name(self, value: int) -> str:
        return self.names.get(int(value), f"Label {int(value)}")

    def colour(self, value: int) -> tuple[int, int, int]:
        found = self.colours.get(int(value))
        return found if found is not None else generic_colour(int(value))


def generic_colour(value: int) -> tuple[int, int, int]:
    """A stable, well separated colour for a label value (golden-ratio hues, two brightnesses)."""
    hue = (value * 0.618033988749895) % 1.0
    brightness = 1.0 if value % 2 == 0 else 0.8
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, brightness)
    return round(red * 255), round(green * 255), round(blue * 255)


def generic_table(values) -> ColourTable:
    values = [int(v) for v in np.asarray(values).ravel() if int(v) != 0]
    return ColourTable({v: f"Label {v}" for v in values}, {v: generic_colour(v) for v in values}, "generic")


def _parse_line(line: str) -> tuple[int, str, tuple[int, int, int]] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if '"' in text:  # ITK-SNAP: IDX R G B A VIS MSH "LABEL"
        parts = shlex.split(text)
        return (
            int(parts[0]),
            parts[7] if len(parts) > 7 else f"Label {parts[0]}",
            tuple(int(float(v)) for v in parts[1:4]),
        )
    parts = text.split()
    return int(parts[0]), parts[1], tuple(int(float(v)) for v in parts[2:5])


def read_colour_table(path: str | Path) -> ColourTable:
    """Read a FreeSurfer / Slicer / ITK-SNAP colour table; a clear error for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read the colour table ({error.strerror or error})") from None
    table = ColourTable(source=path.name)
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = _parse_line(line)
        except (ValueError, IndexError):
            raise ImageReadError(
                f"{path.name} line {number}: not a colour table entry (expected 'value name R G B' or "
                f"ITK-SNAP 'value R G B A visible mesh \"name\"'): {line.strip()[:60]!r}"
            ) from None
        if entry is None:
            continue
        value, name, colour = entry
        if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
            raise ImageReadError(f"{path.name} line {number}: colours must be three numbers 0..255")
        table.names[value] = name
        table.colours[value] = colour  # type: ignore[assignment]
    if not table.names:
        raise ImageReadError(f"{path.name}: no colour table entries found")
    return table


_FREESURFER: ColourTable | None = None


def freesurfer_table() -> ColourTable:
    """The bundled FreeSurfer aseg colour table (read once)."""
    global _FREESURFER
    if _FREESURFER is None:
        _FREESURFER = read_colour_table(FREESURFER_LUT)
        _FREESURFER.source = "FreeSurfer"
    return _FREESURFER


def table_for(values) -> ColourTable:
    """FreeSurfer's table for a FreeSurfer segmentation, a generic one otherwise (module docstring)."""
    present = {int(v) for v in np.asarray(values).ravel() if int(v) != 0}
    freesurfer = freesurfer_table()
    if len(present) >= FREESURFER_MIN_LABELS and present <= set(freesurfer.names):
        return freesurfer
    return generic_table(sorted(present))
