"""Named parameter sets: each preset is a JSON file in this folder listing its stages.

A preset file: ``{"label": ..., "description": ..., "stages": [{"method": ..., "parameters": {...}}]}``,
optionally with ``"mask": "fov"``: an automatic mask (the field of view of a fundus photograph, see
``regviewer.core.colour.automatic_mask``) used on each side where the user gives no mask.
The file name (without .json) is the preset's name used by ``--preset`` and the GUI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from regviewer.core.colour import MASK_KINDS
from regviewer.core.errors import RegViewerError
from regviewer.registration.pipeline import Stage

PRESET_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    stages: tuple[Stage, ...]
    mask: str | None = None  # an automatic mask kind ("fov"), used where the user gives no mask


def load_preset_file(path: Path) -> Preset:
    from regviewer.core.io.file_checks import check_regular_file

    check_regular_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stages = tuple(Stage(entry["method"], dict(entry.get("parameters", {}))) for entry in data["stages"])
        mask = data.get("mask")
        if mask is not None and mask not in MASK_KINDS:
            raise ValueError(f"unknown mask {mask!r} (automatic masks: {', '.join(MASK_KINDS)})")
        return Preset(path.stem, data.get("label", path.stem), data.get("description", ""), stages, mask)
    except RecursionError:
        raise RegViewerError(f"{path}: not a valid preset file (its JSON is nested too deeply)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RegViewerError(f"{path}: not a valid preset file ({type(error).__name__}: {error})") from None


@lru_cache(maxsize=1)
def builtin_presets() -> dict[str, Preset]:
    presets = [load_preset_file(path) for path in sorted(PRESET_DIR.glob("*.json"))]
    order = {"rigid": 0, "affine": 1, "deformable": 2, "rigid-affine-bspline": 3}
    return {p.name: p for p in sorted(presets, key=lambda p: (order.get(p.name, 10), p.name))}


def get_preset(name: str) -> Preset:
    presets = builtin_presets()
    if name in presets:
        return presets[name]
    path = Path(name)
    if path.suffix == ".json" and path.exists():
        return load_preset_file(path)
    raise RegViewerError(f"unknown preset {name!r}; available: {', '.join(presets)} (or a path to a .json preset)")
