"""What the overlays draw, and on which views: one frozen settings object, replaced on every change.

Views are named by their position in the view grid (0: Fixed, 1: Moving, 2: Warped, 3: the
comparison view, in the default layout). An overlay drawn on a view in FIXED space (every mode but
"moving") uses the fixed grid; on a Moving view it is drawn in moving space where that means
something (grid, Jacobian, magnitude, contours) and not at all otherwise (arrows, agreement: both
are defined on the fixed grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

KINDS = ("grid", "jacobian", "magnitude", "arrows", "contours", "agreement")
TITLES = {
    "grid": "Deformation grid",
    "jacobian": "Jacobian determinant",
    "magnitude": "Displacement magnitude",
    "arrows": "Displacement arrows",
    "contours": "Label contours",
    "agreement": "Label agreement (TP / FP / FN)",
}
FIXED_SPACE_ONLY = ("arrows", "agreement")
DEFAULT_VIEWS = {
    "grid": (1, 2),
    "jacobian": (0,),
    "magnitude": (0,),
    "arrows": (0,),
    "contours": (0, 1, 2),
    "agreement": (3,),
}
DEFAULT_OPACITY = {"grid": 0.8, "jacobian": 0.6, "magnitude": 0.6, "arrows": 0.9, "contours": 1.0, "agreement": 0.6}


@dataclass(frozen=True)
class OverlayOptions:
    """On / off, the views an overlay is drawn on, and its opacity (0..1)."""

    enabled: bool = False
    views: frozenset = frozenset()
    opacity: float = 0.8


def _defaults() -> dict:
    return {kind: OverlayOptions(False, frozenset(DEFAULT_VIEWS[kind]), DEFAULT_OPACITY[kind]) for kind in KINDS}


@dataclass(frozen=True)
class OverlaySettings:
    """Options of all overlays.

    Attributes:
        options: ``{kind: OverlayOptions}`` for every kind in KINDS.
        grid_spacing_mm: distance between grid lines.
        grid_colour: RGB of the grid lines.
        jacobian_limit: the colour scale spans det in [1 / limit, limit] (log scale, white at 1).
        magnitude_max_mm: top of the magnitude colour scale; 0 = automatic (the volume's 99.5th percentile).
        arrow_every_px: one arrow every N pixels of the slice.
        arrow_scale: arrow length / displacement (1 = true length).
        contour_width: line width of label contours (pixels on screen).
        agreement_label: the label compared in agreement mode; None = all labels.
    """

    options: dict = field(default_factory=_defaults)
    grid_spacing_mm: float = 10.0
    grid_colour: tuple = (255, 220, 0)
    jacobian_limit: float = 2.0
    magnitude_max_mm: float = 0.0
    arrow_every_px: int = 8
    arrow_scale: float = 1.0
    contour_width: float = 1.5
    agreement_label: int | None = None

    def shown_on(self, kind: str, view_index: int) -> bool:
        option = self.options[kind]
        return option.enabled and view_index in option.views

    def with_options(self, kind: str, **changes) -> OverlaySettings:
        options = dict(self.options)
        options[kind] = replace(options[kind], **changes)
        return replace(self, options=options)

    def params(self, kind: str) -> tuple:
        """The settings one kind depends on (part of its cache / redraw key)."""
        option = self.options[kind]
        extra = {
            "grid": (self.grid_spacing_mm, self.grid_colour),
            "jacobian": (self.jacobian_limit,),
            "magnitude": (self.magnitude_max_mm,),
            "arrows": (self.arrow_every_px, self.arrow_scale),
            "contours": (self.contour_width,),
            "agreement": (self.agreement_label,),
        }[kind]
        return (option.opacity,) + extra
