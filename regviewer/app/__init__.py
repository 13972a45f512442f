"""The application model: plain Python objects with events (psygnal), no Qt.

The window shows these objects and the CLI uses them; session files store their ``snapshot()``
dicts (references and numbers, never arrays) and give them back with ``restore(dict)``.

- ``Workspace``: fixed / moving images, their label maps and masks, the current transform.
- ``ViewerState``: cursor (LPS mm), zoom per plane, window / level per image, modes, layout.
- ``Landmarks`` / ``LandmarkSet``: landmark pairs per dimension and the landmark fit settings.
- ``OverlayState`` / ``OverlaySettings``: what the deformation and label overlays draw.
- ``RunHistory`` / ``RunRecord``: every run with parameters, status, warnings, figures, transform.
- ``RunSession``: one Request builder and one run protocol for the CLI and the window.
"""

from regviewer.app.landmark_set import Landmarks, LandmarkSet
from regviewer.app.overlay_settings import OverlayOptions, OverlaySettings, OverlayState
from regviewer.app.run_history import RunHistory, RunRecord
from regviewer.app.run_session import PreparedRun, RunPlan, RunSession
from regviewer.app.viewer_state import CompareOptions, ViewerState
from regviewer.app.workspace import Workspace

__all__ = [
    "CompareOptions",
    "LandmarkSet",
    "Landmarks",
    "OverlayOptions",
    "OverlaySettings",
    "OverlayState",
    "PreparedRun",
    "RunHistory",
    "RunPlan",
    "RunRecord",
    "RunSession",
    "ViewerState",
    "Workspace",
]
