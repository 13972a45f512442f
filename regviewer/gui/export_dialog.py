"""File > Export Result...: pick a run and an output folder; the files are those of ``regviewer register -o OUT``.

The dialog only collects the choice; the window's session actions run the export (app/export.py)
off the GUI thread and report where the files went.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

FILES_TEXT = (
    "<b>Files written</b> (the same names as <code>regviewer register -o OUT</code>):<br>"
    "transform.tfm / .h5 &mdash; fixed &rarr; moving (for resampling; ITK)<br>"
    "transform_inverse_moving_to_fixed.tfm / .h5 &mdash; moving &rarr; fixed (for carrying points)<br>"
    "warped.&lt;ext&gt;, warped_labels.&lt;ext&gt;, displacement.nii.gz, jacobian.nii.gz, metrics.json<br>"
    "report.html &mdash; one page with the views, the parameters and the before / after figures"
)


class ExportDialog(QDialog):
    """Choose the run (finished runs only) and the output folder."""

    def __init__(
        self, runs: list[tuple[int, str]], current: int | None, folder: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export result")
        self.run_box = QComboBox()
        self.run_box.setObjectName("exportRunBox")
        for run_id, label in runs:
            self.run_box.addItem(label, run_id)
        if current is not None and self.run_box.findData(current) >= 0:
            self.run_box.setCurrentIndex(self.run_box.findData(current))
        self.folder_edit = QLineEdit(folder)
        self.folder_edit.setObjectName("exportFolderEdit")
        self.folder_edit.setMinimumWidth(380)
        self.folder_edit.textChanged.connect(self._update)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Run:", self.run_box)
        form.addRow("Output folder:", folder_row)
        files = QLabel(FILES_TEXT)
        files.setWordWrap(True)
        self.note = QLabel()
        self.note.setObjectName("exportNote")
        self.note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(files)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self._update()

    def run_id(self) -> int | None:
        return self.run_box.currentData()

    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Output folder for the results", self.folder() or str(Path.home())
        )
        if folder:
            self.folder_edit.setText(folder)

    def _update(self) -> None:
        folder = Path(self.folder()) if self.folder() else None
        ok = self.run_box.count() > 0 and folder is not None
        if self.run_box.count() == 0:
            self.note.setText("No finished run to export yet: run a registration first.")
        elif folder is not None and folder.is_dir() and any(folder.iterdir()):
            self.note.setText("The folder is not empty: files with the names above are replaced, others are kept.")
        else:
            self.note.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
