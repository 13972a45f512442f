"""The overlay items of one slice view: grid, Jacobian, magnitude, arrows, label contours, agreement.

Each class follows SliceView's overlay protocol (``attach(view)``, ``refresh(view, slice_changed)``)
and draws what the shared ``OverlayController`` computes for the view's current slice. A redraw
happens only when its key changes: (scene version, mode, plane, slice index, its settings), so
moving the cursor within a slice costs nothing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from regviewer.core.slice_deformation import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    arrows,
    label_agreement,
)
from regviewer.gui.colormaps import DIFFERENCE_MAP, lookup_table
from regviewer.gui.overlays.legend import CornerLegend
from regviewer.gui.overlays.settings import FIXED_SPACE_ONLY

FOLD_COLOUR = (0, 255, 0)
AGREEMENT_COLOURS = {TRUE_POSITIVE: (60, 210, 60), FALSE_POSITIVE: (240, 60, 60), FALSE_NEGATIVE: (60, 130, 255)}
AGREEMENT_NAMES = {
    TRUE_POSITIVE: "true positive (both)",
    FALSE_POSITIVE: "false positive (warped only)",
    FALSE_NEGATIVE: "false negative (fixed only)",
}
LABEL_LAYER = {"fixed": "fixed_labels", "moving": "moving_labels", "warped": "warped_labels"}


def jacobian_rgba(det: np.ndarray, limit: float, opacity: float) -> np.ndarray:
    """Diverging colours on a log scale (blue: shrinks, white: 1, red: grows), folds (det <= 0) in opaque green.

    The opacity grows with |log det| (20 % of ``opacity`` at det = 1, all of it at the scale's ends).
    """
    lut = lookup_table(DIFFERENCE_MAP)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_det = np.log(np.where(det > 0, det, 1.0))
    position = np.clip(np.nan_to_num(log_det) / np.log(max(limit, 1.0001)), -1.0, 1.0)
    rgba = np.empty(det.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[np.round((position + 1) * 127.5).astype(np.uint8)]
    # Fade towards det = 1 so that the image stays readable where the volume is kept.
    rgba[..., 3] = np.round(255 * np.clip(opacity, 0, 1) * (0.2 + 0.8 * np.sqrt(np.abs(position)))).astype(np.uint8)
    folded = det <= 0
    rgba[folded, :3] = FOLD_COLOUR
    rgba[folded, 3] = 255
    rgba[~np.isfinite(det), 3] = 0
    return rgba


def magnitude_rgba(magnitude: np.ndarray, top_mm: float, opacity: float) -> np.ndarray:
    lut = lookup_table("viridis")
    position = np.clip(np.nan_to_num(magnitude) / max(top_mm, 1e-6), 0.0, 1.0)
    rgba = np.empty(magnitude.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[np.round(position * 255).astype(np.uint8)]
    rgba[..., 3] = int(round(255 * np.clip(opacity, 0, 1)))
    rgba[~np.isfinite(magnitude), 3] = 0
    return rgba


class SliceOverlay:
    """Base class: decides whether and when to redraw; subclasses create and fill their items."""

    kind = ""
    z_value = 6.0

    def __init__(self, controller, view_index: int) -> None:
        self.controller = controller
        self.view_index = view_index
        self._drawn_key: object = "never"
        self.view = None

    def attach(self, view) -> None:
        self.view = view
        self.create(view)

    def refresh(self, view, slice_changed: bool) -> None:
        state = self.state(view)
        key = (
            None
            if state is None
            else (
                self.controller.scene.version,
                view.mode,
                view.plane,
                state[2],
                self.controller.settings.params(self.kind),
                self.extra_key(view),
            )
        )
        if key == self._drawn_key:
            return
        self._drawn_key = key
        if state is None:
            self.clear()
        else:
            self.draw(view, *state)

    def state(self, view):
        """(axes, grid, index) when this overlay is drawn on ``view`` now, else None."""
        if not self.controller.settings.shown_on(self.kind, self.view_index):
            return None
        if view.mode == "moving" and self.kind in FIXED_SPACE_ONLY:
            return None
        return view.current_slice()

    def extra_key(self, view) -> object:
        return None

    @property
    def drawn(self) -> bool:
        return self._drawn_key not in (None, "never")

    # subclasses
    def create(self, view) -> None: ...
    def clear(self) -> None: ...
    def draw(self, view, axes, grid, index) -> None: ...


class _CurveOverlay(SliceOverlay):
    """Line segments over the slice (one PlotCurveItem): ``connect`` "finite" (polylines broken by NaN)
    or "pairs" (separate segments)."""

    connect = "finite"
    antialias = False

    def create(self, view) -> None:
        self.curve = pg.PlotCurveItem(connect=self.connect, antialias=self.antialias)
        self.curve.setZValue(self.z_value)
        view.view_box.addItem(self.curve, ignoreBounds=True)

    def clear(self) -> None:
        self.curve.setData([], [])
        self.curve.hide()


class GridOverlay(_CurveOverlay):
    kind = "grid"
    z_value = 8.0

    def draw(self, view, axes, grid, index) -> None:
        settings = self.controller.settings
        x, y = self.controller.grid_polyline(axes, grid, index, view.mode == "moving")
        colour = tuple(settings.grid_colour) + (int(255 * settings.options["grid"].opacity),)
        self.curve.setPen(pg.mkPen(colour, width=1))
        self.curve.setData(x, y, connect="finite")
        self.curve.show()


class _ImageOverlay(SliceOverlay):
    """An RGBA image over the slice, with a legend in a corner of the view (one corner per kind)."""

    corner = "top-right"

    def create(self, view) -> None:
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(self.z_value)
        view.view_box.addItem(self.image, ignoreBounds=True)
        self.legend = CornerLegend(view.view_box, self.corner)

    def clear(self) -> None:
        self.image.clear()
        self.image.hide()
        self.legend.hide()

    def show_rgba(self, rgba: np.ndarray, grid, axes) -> None:
        self.image.setImage(rgba, autoLevels=False)
        self.image.setRect(QRectF(*grid.scene_rect(axes)))
        self.image.show()
        self.legend.show()


class JacobianOverlay(_ImageOverlay):
    kind = "jacobian"

    def draw(self, view, axes, grid, index) -> None:
        settings = self.controller.settings
        det = self.controller.jacobian(axes, grid, index, moving=view.mode == "moving")
        limit = settings.jacobian_limit
        self.show_rgba(jacobian_rgba(det, limit, settings.options["jacobian"].opacity), grid, axes)
        folded = int(np.count_nonzero(det <= 0))
        self.legend.set_colour_bar(
            "Jacobian det (log scale)",
            lookup_table(DIFFERENCE_MAP),
            [(0.0, f"{1 / limit:.3g} shrinks"), (0.5, "1 (volume kept)"), (1.0, f"{limit:.3g} grows")],
            [(FOLD_COLOUR, f"det <= 0: fold ({folded} px here)")],
        )


class MagnitudeOverlay(_ImageOverlay):
    kind = "magnitude"
    corner = "top-left"

    def extra_key(self, view) -> object:
        return self.controller.magnitude_top_mm()

    def draw(self, view, axes, grid, index) -> None:
        settings = self.controller.settings
        moving = view.mode == "moving"
        displacement = self.controller.displacement_q(axes, grid, index, moving=moving)
        magnitude = np.linalg.norm(displacement, axis=-1)
        top = self.controller.magnitude_top_mm(magnitude)
        self.show_rgba(magnitude_rgba(magnitude, top, settings.options["magnitude"].opacity), grid, axes)
        self.legend.set_colour_bar(
            "|displacement| (mm)", lookup_table("viridis"), [(0.0, "0"), (0.5, f"{top / 2:.3g}"), (1.0, f"{top:.3g}")]
        )


class ArrowOverlay(_CurveOverlay):
    kind = "arrows"
    z_value = 9.0
    connect = "pairs"
    antialias = True

    def draw(self, view, axes, grid, index) -> None:
        settings = self.controller.settings
        displacement = self.controller.displacement_q(axes, grid, index)
        starts, vectors = arrows(grid, axes, displacement, settings.arrow_every_px)
        vectors = vectors * settings.arrow_scale
        keep = np.linalg.norm(vectors, axis=1) > 1e-3
        starts, vectors = starts[keep], vectors[keep]
        ends = starts + vectors
        heads = []
        for angle in (np.radians(150), np.radians(-150)):
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            heads.append(ends + 0.3 * vectors @ rotation.T)
        points = np.empty((len(starts) * 6, 2))
        points[0::6], points[1::6] = starts, ends
        points[2::6], points[3::6] = ends, heads[0]
        points[4::6], points[5::6] = ends, heads[1]
        self.curve.setPen(pg.mkPen((255, 140, 0, int(255 * settings.options["arrows"].opacity)), width=1))
        self.curve.setData(points[:, 0], points[:, 1], connect="pairs")
        self.curve.show()


class ContourOverlay(SliceOverlay):
    kind = "contours"
    z_value = 7.0

    def create(self, view) -> None:
        self.curves: list[pg.PlotCurveItem] = []
        self.drawn_labels: list[int] = []

    def extra_key(self, view) -> object:
        return id(self.controller.colour_table())

    def clear(self) -> None:
        for curve in self.curves:
            curve.hide()
        self.drawn_labels = []

    def draw(self, view, axes, grid, index) -> None:
        layer = LABEL_LAYER.get(view.mode, "fixed_labels")
        outlines = self.controller.contours(layer, view.plane, view.link.cursor_mm)
        table = self.controller.colour_table()
        settings = self.controller.settings
        alpha = int(255 * settings.options["contours"].opacity)
        while len(self.curves) < len(outlines):
            curve = pg.PlotCurveItem(connect="pairs", antialias=False)
            curve.setZValue(self.z_value)
            self.view.view_box.addItem(curve, ignoreBounds=True)
            self.curves.append(curve)
        for curve, (value, (x, y)) in zip(self.curves, outlines.items()):
            curve.setPen(pg.mkPen(table.colour(value) + (alpha,), width=settings.contour_width))
            curve.setData(x, y, connect="pairs")
            curve.show()
        for curve in self.curves[len(outlines) :]:
            curve.hide()
        self.drawn_labels = list(outlines)


class AgreementOverlay(_ImageOverlay):
    kind = "agreement"
    corner = "bottom-right"

    def draw(self, view, axes, grid, index) -> None:
        scene, cursor = self.controller.scene, view.link.cursor_mm
        fixed, _ = scene.slice("fixed_labels", view.plane, cursor)
        warped, _ = scene.slice("warped_labels", view.plane, cursor)
        if fixed is None or warped is None or fixed.shape != warped.shape:
            self.clear()
            return
        label = self.controller.settings.agreement_label
        classes = label_agreement(fixed, warped, label)
        table = np.zeros((4, 4), dtype=np.uint8)
        for value, colour in AGREEMENT_COLOURS.items():
            table[value, :3] = colour
            table[value, 3] = int(255 * self.controller.settings.options["agreement"].opacity)
        self.show_rgba(table[classes], grid, axes)
        counts = np.bincount(classes.ravel(), minlength=4)
        name = "all labels" if label is None else self.controller.colour_table().name(label)
        self.legend.set_swatches(
            f"Agreement: {name}",
            [(AGREEMENT_COLOURS[value], f"{AGREEMENT_NAMES[value]}: {counts[value]}") for value in AGREEMENT_COLOURS],
        )


OVERLAY_CLASSES = (GridOverlay, JacobianOverlay, MagnitudeOverlay, ArrowOverlay, ContourOverlay, AgreementOverlay)


def install_on_view(controller, view, view_index: int) -> list[SliceOverlay]:
    """Attach one overlay of every kind to a slice view."""
    overlays = [cls(controller, view_index) for cls in OVERLAY_CLASSES]
    for overlay in overlays:
        view.add_overlay(overlay)
    return overlays
