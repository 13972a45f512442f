"""What the overlays draw, and on which views: moved to ``regviewer.app.overlay_settings`` (Qt-free,
saved in session files); re-exported here for the overlay widgets."""

from regviewer.app.overlay_settings import (  # noqa: F401
    DEFAULT_OPACITY,
    DEFAULT_VIEWS,
    FIXED_SPACE_ONLY,
    KINDS,
    TITLES,
    OverlayOptions,
    OverlaySettings,
)
