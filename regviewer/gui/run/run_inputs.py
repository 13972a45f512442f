"""What a run starts from: the mask, the label maps, the initial transform and where it runs.

``RunInputs`` is the "Mask / Use label maps / Start from / Run in a separate process" part of the
registration dock. Its choices follow what the window has loaded (label maps, a shown transform,
landmark pairs, earlier runs on the same images).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QWidget

from regviewer.core.errors import RegViewerError
from regviewer.core.landmark_fit import fit
from regviewer.core.scene import Scene
from regviewer.core.transforms import Transform

START_NONE, START_CURRENT, START_LANDMARKS = "none", "current", "landmarks"


class RunInputs(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mask_combo = QComboBox()
        self.mask_combo.setObjectName("maskCombo")
        self.mask_combo.setToolTip("Restrict the metric to the non-zero voxels of loaded label maps")
        self.labels_check = QCheckBox("Use label maps (label terms, Dice)")
        self.labels_check.setObjectName("labelsCheck")
        self.labels_check.setChecked(True)
        self.start_combo = QComboBox()
        self.start_combo.setObjectName("startCombo")
        self.start_combo.setToolTip(
            "Initial fixed -> moving transform: none, the transform shown now, an affine fit "
            "to the landmarks, or a previous run"
        )
        self.isolate_check = QCheckBox("Run in a separate process")
        self.isolate_check.setObjectName("isolateCheck")
        self.isolate_check.setChecked(True)
        self.isolate_check.setToolTip(
            "The engine runs in its own process: the window never waits for it, a crash in native code "
            "cannot close the window, and Cancel can stop it at once. Starting the process takes about a second. "
            "Only for the methods installed with RegViewer or as plugins."
        )
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Mask:", self.mask_combo)
        layout.addRow("", self.labels_check)
        layout.addRow("Start from:", self.start_combo)
        layout.addRow("", self.isolate_check)

    def content_changed(self, scene: Scene) -> None:
        """Offer the masks and label terms the loaded label maps allow."""
        self.mask_combo.clear()
        self.mask_combo.addItem("No mask", ())
        if scene.fixed_labels is not None:
            self.mask_combo.addItem("Fixed labels > 0", ("fixed",))
        both = scene.fixed_labels is not None and scene.moving_labels is not None
        if both:
            self.mask_combo.addItem("Fixed and moving labels > 0", ("fixed", "moving"))
        self.labels_check.setEnabled(both)

    def rebuild_start_choices(self, scene: Scene, landmarks: bool, runs: list[tuple[int, str]]) -> None:
        """``landmarks``: the window can provide landmark pairs; ``runs``: (id, title) of the earlier runs
        whose transforms fit the open images. The current choice is kept when it still exists."""
        chosen = self.start_combo.currentData()
        self.start_combo.clear()
        self.start_combo.addItem("Method's own start (no initial transform)", START_NONE)
        if scene.transform is not None:
            self.start_combo.addItem("Transform shown now", START_CURRENT)
        if landmarks:
            self.start_combo.addItem("Affine fit to the landmarks", START_LANDMARKS)
        for run_id, title in runs:
            self.start_combo.addItem(f"Run #{run_id}: {title}", run_id)
        self.start_combo.setCurrentIndex(max(self.start_combo.findData(chosen), 0))

    def choose_run(self, run_id: int) -> bool:
        index = self.start_combo.findData(run_id)
        if index >= 0:
            self.start_combo.setCurrentIndex(index)
        return index >= 0

    def mask_roles(self) -> tuple[str, ...]:
        return tuple(self.mask_combo.currentData() or ())

    def use_labels(self) -> bool:
        return self.labels_check.isEnabled() and self.labels_check.isChecked()

    def isolated(self) -> bool:
        return self.isolate_check.isEnabled() and self.isolate_check.isChecked()

    def start_transform(
        self, scene: Scene, run_transform, fixed_points: np.ndarray | None, moving_points: np.ndarray | None
    ) -> tuple[Transform | None, str]:
        """(initial transform, how the history names it). ``run_transform(run_id)`` gives an earlier
        run's transform. RegViewerError when a landmark start has no pairs to fit."""
        choice = self.start_combo.currentData()
        if choice == START_LANDMARKS:
            if fixed_points is None:
                raise RegViewerError("Place complete landmark pairs first (Landmarks tab), or choose another start.")
            return fit("affine", fixed_points, moving_points), f"an affine fit to {len(fixed_points)} landmark pairs"
        if choice == START_CURRENT:
            return scene.transform, "the transform shown at the start"
        if isinstance(choice, int):
            return run_transform(choice), f"run #{choice}"
        return None, "the method's own start"


def landmark_pairs(window, ndim: int) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Complete active landmark pairs from ``window.landmark_pairs()`` when the window has that provider:
    (fixed, moving, "") or (None, None, why they are not used)."""
    provider = getattr(window, "landmark_pairs", None)
    if provider is None:
        return None, None, ""
    fixed, moving = provider()
    if fixed is None or moving is None or len(fixed) == 0:
        return None, None, ""
    fixed, moving = np.asarray(fixed, dtype=np.float64), np.asarray(moving, dtype=np.float64)
    if fixed.shape != moving.shape or fixed.ndim != 2 or fixed.shape[1] != ndim:
        return None, None, "Landmarks ignored: the pairs are incomplete or of another dimension"
    return fixed, moving, ""
