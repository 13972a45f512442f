"""Where RegViewer finds its bundled resources (sample data, presets, icons, model weights)."""

from __future__ import annotations

from pathlib import Path

# The repository's top-level resources/ folder (source checkouts and editable installs).
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_DATA = RESOURCES / "sample_data"
