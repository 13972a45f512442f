"""The questions sessions ask: unsaved work, recovery after a crash, images that moved.

Each dialog is a small class with ``ask()`` (or ``exec()``) so the window's tests can answer it
without a user: they replace ``ask`` or call the dialog's buttons.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from regviewer.app.recovery import Recoverable
from regviewer.app.session_images import ImageProblem


def unsaved_box(parent: QWidget | None, name: str) -> QMessageBox:
    """ "Save the changes to NAME?" with Save / Discard / Cancel (Save is the default button)."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, "Unsaved work", f"Save the changes to {name} before closing?", parent=parent
    )
    box.setObjectName("unsavedBox")
    box.setInformativeText(
        "The images are not changed either way; the session keeps the run history, landmarks, "
        "view settings and notes. If you discard, they are lost."
    )
    box.setStandardButtons(
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    return box


def ask_unsaved(parent: QWidget | None, name: str) -> str:
    """ "save", "discard" or "cancel"."""
    answer = unsaved_box(parent, name).exec()
    return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
        QMessageBox.StandardButton(answer), "cancel"
    )


def recovery_box(parent: QWidget | None, found: Recoverable, others: int = 0) -> QMessageBox:
    """ "Recover the session from <time>?" with Recover / Discard (Later keeps it for the next start)."""
    when = found.describe()
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Recover work",
        f"RegViewer did not close cleanly.\n\nRecover the session from {when}?",
        parent=parent,
    )
    box.setObjectName("recoveryBox")
    detail = f"It belongs to {found.session_path}. " if found.session_path else "It was never saved as a session. "
    if others:
        detail += f"{others} older autosave(s) are kept for the next start. "
    box.setInformativeText(detail + "Discard deletes this autosave; Later keeps it for the next start.")
    box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole).setObjectName("recoverButton")
    box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole).setObjectName("discardButton")
    later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    later.setObjectName("laterButton")
    box.setEscapeButton(later)
    return box


def ask_recover(parent: QWidget | None, found: Recoverable, others: int = 0) -> str:
    """ "recover", "discard" or "later"."""
    box = recovery_box(parent, found, others)
    box.exec()
    name = box.clickedButton().objectName() if box.clickedButton() is not None else "laterButton"
    return {"recoverButton": "recover", "discardButton": "discard"}.get(name, "later")


class MissingImagesDialog(QDialog):
    """Lists the images of a session that are missing or changed; "Locate..." picks each one's new file.

    ``located`` maps role -> the path chosen; the roles not located stay as reported (a missing image
    is left empty, a changed one is used as it is now).
    """

    def __init__(self, problems: list[ImageProblem], start_folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("missingImagesDialog")
        self.setWindowTitle("Images not as saved")
        self.problems = problems
        self.start_folder = start_folder
        self.located: dict[str, str] = {}
        self._labels: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        intro = QLabel(
            "The session opened, but these images are not the files it was saved with. "
            "Locate each one, or continue without it (a missing image stays empty)."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        rows = QGridLayout()
        for row, problem in enumerate(problems):
            label = QLabel(problem.message)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setMinimumWidth(420)
            button = QPushButton("Locate...")
            button.setObjectName(f"locate_{problem.role}")
            button.clicked.connect(lambda _=False, p=problem: self._locate(p))
            rows.addWidget(label, row, 0)
            rows.addWidget(button, row, 1, Qt.AlignmentFlag.AlignTop)
            self._labels[problem.role] = label
        layout.addLayout(rows)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Continue")
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def _locate(self, problem: ImageProblem) -> None:
        folder = str(problem.path.parent) if problem.path.parent.exists() else self.start_folder
        path, _ = QFileDialog.getOpenFileName(
            self, f"Locate the {problem.role.replace('_', ' ')} image ({problem.path.name})", folder
        )
        if path:
            self.set_located(problem.role, path)

    def set_located(self, role: str, path: str) -> None:
        """Record the file chosen for ``role`` (what "Locate..." does after its file dialog)."""
        self.located[role] = path
        self._labels[role].setText(f"{role.replace('_', ' ')} image: will use {Path(path)}")
