"""Where RegViewer finds its bundled resources (sample data, presets, icons, model weights)."""

from __future__ import annotations

from pathlib import Path

# The repository's top-level resources/ folder (source checkouts and editable installs).
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_DATA = RESOURCES / "sample_data"
# Bundled registration networks (brain2d.pt, brain3d.pt) and their training configurations.
MODELS = RESOURCES / "models"

# The 2D sample pair (real axial T1 brain slices, 1 mm pixels): fixed r16, moving r64.
SAMPLE_2D_FIXED = SAMPLE_DATA / "brain2d" / "r16slice.jpg"
SAMPLE_2D_MOVING = SAMPLE_DATA / "brain2d" / "r64slice.jpg"

# The 3D sample pair with labels (see resources/sample_data/brain3d/README.md): the moving image is on
# another grid (spacing, origin, direction) and SAMPLE_3D_TRUTH is the true fixed -> moving transform.
SAMPLE_3D_FIXED = SAMPLE_DATA / "brain3d" / "fixed.nii.gz"
SAMPLE_3D_MOVING = SAMPLE_DATA / "brain3d" / "moving.nii.gz"
SAMPLE_3D_FIXED_LABELS = SAMPLE_DATA / "brain3d" / "fixed_labels.nii.gz"
SAMPLE_3D_MOVING_LABELS = SAMPLE_DATA / "brain3d" / "moving_labels.nii.gz"
SAMPLE_3D_TRUTH = SAMPLE_DATA / "brain3d" / "fixed_to_moving.tfm"
