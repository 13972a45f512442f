"""The status-bar text under the cursor: position, voxel indices and intensities, label values and names."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regviewer.core.scene import Scene


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def _index(index: tuple[int, ...] | None) -> str:
    return "outside" if index is None else "[" + ", ".join(str(i) for i in index) + "]"


def _label(value: float | None, label_name: Callable[[int], str | None] | None) -> str:
    text = _number(value)
    if value is None or label_name is None or int(value) == 0:
        return text
    name = label_name(int(value))
    return f"{text} {name}" if name else text


def _rgb(image, index: tuple[int, ...] | None) -> str:  # noqa: ANN001
    """ " RGB 201, 83, 40" at a colour picture's voxel (x, y) (its grey value is the registered channel)."""
    if image.colour is None or index is None:
        return ""
    red, green, blue = (int(v) for v in np.asarray(image.colour)[tuple(reversed(index))][:3])
    return f" (RGB {red}, {green}, {blue})"


def cursor_report(scene: Scene, point_mm: np.ndarray, label_name: Callable[[int], str | None] | None = None) -> str:
    """One line: LPS mm, fixed and moving voxel (x, y, z) index and value, warped value, labels.

    ``label_name``: the name of a label value where a colour table has one (else None: the number alone).
    """
    if scene.space is None:
        return "Open a fixed and a moving image (File menu, or drop files on the window)."
    ndim = scene.space.reference.ndim if not scene.space.is_2d else 2
    point = np.asarray(point_mm, dtype=np.float64)[:ndim]
    parts = ["LPS (" + ", ".join(f"{v:.1f}" for v in point) + ") mm"]
    for layer in ("fixed", "moving"):
        image = getattr(scene, layer)
        if image is not None:
            index = scene.voxel_index(layer, point)
            parts.append(f"{layer} {_index(index)} = {_number(scene.value(layer, point))}{_rgb(image, index)}")
    if scene.moving is not None and scene.fixed is not None:
        parts.append(f"warped = {_number(scene.value('warped', point))}")
    for layer in ("fixed_labels", "moving_labels"):
        if getattr(scene, layer) is not None:
            parts.append(f"{layer.replace('_', ' ')} {_label(scene.value(layer, point), label_name)}")
    return "   |   ".join(parts)
