"""Two runs side by side: the third view shows run A's warped image, the fourth run B's.

A ``Scene`` holds one transform, so run A goes through the window's scene (the Warped view, and
everything else that follows the current transform) and run B through a second ``Scene`` with the
same images, given to the fourth view only. Both views keep the shared cursor, zoom and windows.
A badge in each view names its run. The comparison ends (the fourth view gets its scene and mode
back) when new images or another transform are shown, or when ``stop`` is called.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from regviewer.core.scene import Scene
from regviewer.core.transforms import Transform
from regviewer.gui.views.view_grid import ViewGrid

BADGE_STYLE = "background: rgba(0, 0, 0, 170); color: #ffd54f; padding: 2px 6px; font-weight: bold;"


class RunComparison:
    """See the module docstring."""

    def __init__(self, grid: ViewGrid) -> None:
        self.grid = grid
        self.scene: Scene | None = None
        self._saved_mode = ""
        self._starting = False
        self.badges = [self._badge(grid.views[2]), self._badge(grid.views[3])]
        grid.contentChanged.connect(self.stop)
        grid.transformChanged.connect(self._transform_changed)

    @staticmethod
    def _badge(view) -> QLabel:
        badge = QLabel(view.graphics)
        badge.setObjectName("compareBadge")
        badge.setStyleSheet(BADGE_STYLE)
        badge.move(6, 6)
        badge.hide()
        return badge

    @property
    def active(self) -> bool:
        return self.scene is not None

    def start(self, transform_a: Transform, label_a: str, transform_b: Transform, label_b: str) -> None:
        """Show A in the Warped view (third) and B in the fourth view."""
        self.stop()
        grid = self.grid
        self._starting = True
        try:
            grid.set_transform(transform_a)
        finally:
            self._starting = False
        if grid.layout_name != "2x2":
            grid.set_layout("2x2")
        source = grid.scene
        self.scene = Scene()
        self.scene.set_images(source.fixed, source.moving, source.fixed_labels, source.moving_labels, transform_b)
        third, fourth = grid.views[2], grid.views[3]
        third.set_mode("warped")
        self._saved_mode = fourth.mode
        fourth.scene = self.scene
        fourth.set_mode("warped")
        fourth.scene_changed()
        for badge, text in zip(self.badges, (label_a, label_b)):
            badge.setText(text)
            badge.adjustSize()
            badge.show()
            badge.raise_()

    def stop(self) -> None:
        """Give the fourth view back its scene and mode."""
        if self.scene is None:
            return
        fourth = self.grid.views[3]
        fourth.scene = self.grid.scene
        self.scene = None
        for badge in self.badges:
            badge.hide()
        fourth.set_mode(self._saved_mode or "checkerboard")
        fourth.scene_changed()

    def _transform_changed(self, _preview: bool) -> None:
        if not self._starting:
            self.stop()
