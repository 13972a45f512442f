"""What a run starts from: the channel, the mask, the label maps, the initial transform and where it runs.

``RunInputs`` is the "Register on / Mask / Use label maps / Start from / Run in a separate process"
part of the registration dock. Its choices follow what the window has loaded (colour pictures, label
maps, a shown transform, landmark pairs, earlier runs on the same images). "Register on" is shown
only when either image is in colour; a preset's automatic mask (``"mask": "fov"``) names the
"no mask" choice "Field of view (automatic)".
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QWidget

from regviewer.app.run_session import START_CURRENT, START_LANDMARKS, START_NONE
from regviewer.core.scene import Scene

CHANNEL_CHOICES = (("Luminance", "luminance"), ("Green", "green"), ("Red", "red"), ("Blue", "blue"))
AUTO_MASK_LABELS = {"fov": "Field of view (automatic)"}


class RunInputs(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.auto_mask: str | None = None  # the chosen preset's automatic mask kind
        self._colour = False  # either image is in colour
        self.channel_combo = QComboBox()
        self.channel_combo.setObjectName("channelCombo")
        self.channel_combo.setToolTip(
            "Colour pictures are shown in colour; registration uses one scalar image: the luminance, or one "
            "colour channel (green has the most vessel contrast in fundus photographs). Same as --channel."
        )
        for label, name in CHANNEL_CHOICES:
            self.channel_combo.addItem(label, name)
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
        layout = self.form_layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Register on:", self.channel_combo)
        layout.setRowVisible(self.channel_combo, False)
        layout.addRow("Mask:", self.mask_combo)
        layout.addRow("", self.labels_check)
        layout.addRow("Start from:", self.start_combo)
        layout.addRow("", self.isolate_check)

    def content_changed(self, scene: Scene) -> None:
        """Offer the channel choice for colour pictures, and the masks and label terms the loaded label
        maps allow."""
        self._colour = any(image is not None and image.colour is not None for image in (scene.fixed, scene.moving))
        self.form_layout.setRowVisible(self.channel_combo, self._colour)
        chosen = self.mask_combo.currentData()
        self.mask_combo.clear()
        self.mask_combo.addItem(AUTO_MASK_LABELS.get(self.auto_mask, "No mask"), ())
        if scene.fixed_labels is not None:
            self.mask_combo.addItem("Fixed labels > 0", ("fixed",))
        both = scene.fixed_labels is not None and scene.moving_labels is not None
        if both:
            self.mask_combo.addItem("Fixed and moving labels > 0", ("fixed", "moving"))
        self.labels_check.setEnabled(both)
        self.mask_combo.setCurrentIndex(max(self.mask_combo.findData(chosen), 0))

    def set_auto_mask(self, kind: str | None) -> None:
        """The chosen preset's automatic mask (None: none): names the "no mask" choice after it."""
        self.auto_mask = kind
        self.mask_combo.setItemText(0, AUTO_MASK_LABELS.get(kind, "No mask"))
        self.mask_combo.setItemData(
            0,
            "Found from the dark border of each image that has no mask of its own (the preset asks for it)"
            if kind
            else None,
            Qt.ItemDataRole.ToolTipRole,
        )

    def colour_shown(self) -> bool:
        """True when the Register on box is offered (either image is in colour)."""
        return self._colour

    def set_channel(self, name: str) -> None:
        """Choose the channel to register on ("luminance", "red", "green", "blue")."""
        index = self.channel_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown colour channel {name!r}")
        self.channel_combo.setCurrentIndex(index)

    def channel(self) -> str | None:
        """The channel the next run registers on; None when neither image is in colour (nothing to choose)."""
        return self.channel_combo.currentData() if self.colour_shown() else None

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

    def start_choice(self):  # noqa: ANN201
        """What the next run starts from: "none", "current", "landmarks" or an earlier run's id
        (``regviewer.app.run_session``'s START_* choices; the session computes the transform)."""
        choice = self.start_combo.currentData()
        return START_NONE if choice is None else choice


def landmark_pairs(landmarks, ndim: int) -> tuple[np.ndarray | None, np.ndarray | None, str]:  # noqa: ANN001
    """Complete active landmark pairs of a landmark controller (None: the window has no landmarks):
    (fixed, moving, "") or (None, None, why they are not used)."""
    if landmarks is None:
        return None, None, ""
    fixed, moving = landmarks.pairs_for_registration()
    if fixed is None or moving is None or len(fixed) == 0:
        return None, None, ""
    fixed, moving = np.asarray(fixed, dtype=np.float64), np.asarray(moving, dtype=np.float64)
    if fixed.shape != moving.shape or fixed.ndim != 2 or fixed.shape[1] != ndim:
        return None, None, "Landmarks ignored: the pairs are incomplete or of another dimension"
    return fixed, moving, ""
