"""Where RegViewer finds its bundled resources (sample data, model weights, colour tables, icons).

They live in the ``regviewer.resources`` package and are located with ``importlib.resources``, so the same
names work in a source checkout, an editable or a normal (wheel) install and a frozen (PyInstaller) bundle.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _package_folder(package: str) -> Path:
    """The folder of ``package`` on disk (every way RegViewer is installed keeps its resources as plain files)."""
    folder = files(package)
    if not isinstance(folder, Path):  # e.g. a zip import: the resources are not files, nothing here could open them
        raise RuntimeError(f"{package} is not installed as plain files ({folder!r}); reinstall RegViewer from a wheel")
    return folder


RESOURCES = _package_folder("regviewer.resources")
SAMPLE_DATA = RESOURCES / "sample_data"
# Bundled registration networks (brain2d.pt, brain3d.pt, prostate3d.pt) and their training configurations.
MODELS = RESOURCES / "models"
COLOUR_TABLES = RESOURCES / "colour_tables"
# The application icon: SVG source and the rendered sizes (PNG per size, .ico for Windows, .icns for macOS).
ICONS = RESOURCES / "icons"
APP_ICON_SVG = ICONS / "regviewer.svg"
APP_ICON_PNG = ICONS / "regviewer-256.png"

# The 2D sample pair (real axial T1 brain slices, 1 mm pixels): fixed r16, moving r64.
SAMPLE_2D_FIXED = SAMPLE_DATA / "brain2d" / "r16slice.jpg"
SAMPLE_2D_MOVING = SAMPLE_DATA / "brain2d" / "r64slice.jpg"

# The 3D sample pair with labels (see regviewer/resources/sample_data/brain3d/README.md): the moving image is
# on another grid (spacing, origin, direction) and SAMPLE_3D_TRUTH is the true fixed -> moving transform.
SAMPLE_3D_FIXED = SAMPLE_DATA / "brain3d" / "fixed.nii.gz"
SAMPLE_3D_MOVING = SAMPLE_DATA / "brain3d" / "moving.nii.gz"
SAMPLE_3D_FIXED_LABELS = SAMPLE_DATA / "brain3d" / "fixed_labels.nii.gz"
SAMPLE_3D_MOVING_LABELS = SAMPLE_DATA / "brain3d" / "moving_labels.nii.gz"
SAMPLE_3D_TRUTH = SAMPLE_DATA / "brain3d" / "fixed_to_moving.tfm"
