"""The image-information panel on the bundled 3D sample pair (different grids, a tilted moving image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtGui import QGuiApplication

from regviewer import paths
from regviewer.core.image import Image
from regviewer.core.io import read_image
from regviewer.gui.panels.image_info import ImageInfoPanel, label_count, orientation_code

SHOTS = Path("/tmp/shots")


@pytest.fixture(scope="module")
def sample():
    return (
        read_image(paths.SAMPLE_3D_FIXED),
        read_image(paths.SAMPLE_3D_MOVING),
        read_image(paths.SAMPLE_3D_FIXED_LABELS, is_label=True),
        read_image(paths.SAMPLE_3D_MOVING_LABELS, is_label=True),
    )


@pytest.fixture
def panel(qtbot, sample):
    widget = ImageInfoPanel()
    qtbot.addWidget(widget)
    widget.resize(560, 420)
    fixed, moving, fixed_labels, moving_labels = sample
    widget.set_images(fixed, moving, fixed_labels, moving_labels)
    return widget


def test_shows_both_grids(panel, sample):
    fixed, moving, fixed_labels, _ = sample
    assert panel.cell_text("Name", "Fixed") == "fixed.nii.gz"
    assert panel.cell_text("Size (voxels)", "Fixed") == " x ".join(map(str, fixed.geometry.size)) + "  (3D)"
    assert panel.cell_text("Size (voxels)", "Moving") == " x ".join(map(str, moving.geometry.size)) + "  (3D)"
    assert panel.cell_text("Spacing (mm)", "Fixed") == "(2, 2, 2)"
    assert panel.cell_text("Spacing (mm)", "Moving") == "(2.2, 2, 2.5)"
    assert panel.cell_text("Origin (mm)", "Fixed") == "(" + ", ".join(f"{v:g}" for v in fixed.origin) + ")"
    assert panel.cell_text("Direction", "Fixed") == "identity"
    rows = panel.cell_text("Direction", "Moving").splitlines()
    assert len(rows) == 3 and np.allclose(
        [[float(v) for v in row.strip("[]").split()] for row in rows], moving.direction, atol=1e-4
    )
    assert panel.cell_text("Orientation", "Fixed") == "LPS"
    assert panel.cell_text("Orientation", "Moving") == "LPS (oblique)"
    assert panel.cell_text("Data type", "Fixed") == "uint8"
    low, high = fixed.value_range()
    assert panel.cell_text("Intensity range", "Fixed") == f"{low:g} .. {high:g}"
    expected_labels = len(np.unique(fixed_labels.array)) - 1
    assert panel.cell_text("Labels", "Fixed") == f"{expected_labels} (fixed_labels.nii.gz)"


def test_screenshot(panel, qtbot):
    panel.show()
    qtbot.waitExposed(panel)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(SHOTS / "image_info.png"))
    assert (SHOTS / "image_info.png").stat().st_size > 1000


def test_read_only_and_copyable(panel):
    table = panel.table
    assert table.editTriggers() == table.EditTrigger.NoEditTriggers
    table.selectAll()
    panel.copy_selection()
    copied = QGuiApplication.clipboard().text().splitlines()
    assert copied[0] == "Property\tFixed\tMoving"
    assert "Spacing (mm)\t(2, 2, 2)\t(2.2, 2, 2.5)" in copied
    assert len(copied) == 1 + table.rowCount()
    table.clearSelection()
    table.item(2, 1).setSelected(True)
    panel.copy_selection()
    assert QGuiApplication.clipboard().text() == "Property\tMoving\nSpacing (mm)\t(2.2, 2, 2.5)"


def test_missing_images_and_label_images(qtbot, sample):
    widget = ImageInfoPanel()
    qtbot.addWidget(widget)
    assert widget.cell_text("Name", "Fixed") == "-" and widget.cell_text("Spacing (mm)", "Moving") == "-"
    _, _, fixed_labels, _ = sample
    widget.set_images(fixed_labels, None)
    assert widget.cell_text("Data type", "Fixed") == "uint8 (labels)"
    assert widget.cell_text("Labels", "Fixed") == str(len(np.unique(fixed_labels.array)) - 1)
    assert widget.cell_text("Name", "Moving") == "-"
    flat = Image.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), spacing=(0.5, 0.25), name="slice")
    widget.set_images(flat, None)
    assert widget.cell_text("Size (voxels)", "Fixed") == "4 x 3  (2D)"
    assert widget.cell_text("Orientation", "Fixed") == "LP" and widget.cell_text("Labels", "Fixed") == "-"
    assert widget.cell_text("Intensity range", "Fixed") == "0 .. 11"


def test_orientation_code_agrees_with_simpleitk():
    rng = np.random.default_rng(0)
    for _ in range(50):
        permutation = np.eye(3)[rng.permutation(3)] * rng.choice([-1.0, 1.0], 3)
        tilt = sitk.Euler3DTransform((0, 0, 0), *np.radians(rng.uniform(-20, 20, 3))).GetMatrix()
        direction = np.array(tilt).reshape(3, 3) @ permutation
        expected = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(tuple(direction.reshape(-1)))
        assert orientation_code(direction).split()[0] == expected
    assert orientation_code(np.diag([-1.0, -1.0, 1.0])) == "RAS"


def test_label_count_counts_nonzero_values():
    assert label_count(np.array([[0, 3, 3], [7, 0, 250]], dtype=np.uint8)) == 3
    assert label_count(np.array([0.0, 1.0, 2.0])) == 2
