"""The registration dock: choose a preset or a method, edit its parameters, run it in the background.

Top to bottom: the preset (presets first, then "Single method"), the stage of a chain being edited,
the method (every method of the registry, plugins included; a plugin that failed to load is listed
greyed out with its reason), the parameter form, the channel (colour pictures only) / mask / labels /
start choices, the Run and Cancel buttons with progress, and the run history.

A run takes the images, labels and landmarks of the window's ``Workspace`` at that moment: the
``RunSession`` (``regviewer.app``, the same builder the CLI uses) makes the frozen ``Request`` and the
evaluation data and records the run in the ``RunHistory``, which the History tab shows. The run goes
in a ``RunController`` thread; the views show its intermediate transforms, then its result. Landmark
pairs come from the landmark controller given to the dock: they go to the engine and into the TRE
figures. The next run can start as soon as a run's result is back; its figures follow (Dice first).

``install_run_dock(window, session, landmarks)`` adds the dock to a ``MainWindow`` (which arranges its
docks in one tab group).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QMenu,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from regviewer.app.run_history import RunRecord
from regviewer.app.run_session import RunPlan, RunSession
from regviewer.core.errors import RegViewerError
from regviewer.core.landmark_fit import FIT_KINDS
from regviewer.gui.hint_text import description_html
from regviewer.gui.model_link import subscribe
from regviewer.gui.run.compare import RunComparison
from regviewer.gui.run.history import HistoryPanel
from regviewer.gui.run.parameter_form import ParameterForm
from regviewer.gui.run.progress_panel import ProgressPanel
from regviewer.gui.run.record_command import record_command
from regviewer.gui.run.run_inputs import RunInputs, landmark_pairs
from regviewer.gui.run.worker import RunController, RunJob
from regviewer.registration.base import resolve_parameters
from regviewer.registration.pipeline import Stage, validate_stages
from regviewer.registration.presets import Preset, builtin_presets
from regviewer.registration.registry import Registry, default_registry

SINGLE_METHOD = ""  # presetCombo data of the "Single method" entry


class RunDock(QDockWidget):
    """See the module docstring."""

    def __init__(self, window, session: RunSession, landmarks=None, registry: Registry | None = None) -> None:  # noqa: ANN001
        """``session``: the window's run session (workspace + history); ``landmarks``: the landmark
        controller whose pairs runs use (None: no landmarks)."""
        super().__init__("Registration", window)
        self.setObjectName("registrationDock")
        self.window_ = window
        self.grid = window.grid
        self.session = session
        self.workspace = session.workspace
        self.landmarks = landmarks
        self.registry = registry or default_registry()
        self.presets: dict[str, Preset] = builtin_presets()
        self.stages: list[Stage] = []
        self.preset_name: str | None = None
        self.stage_index = 0
        self.runs_folder: Path | None = None  # where "Copy as command" writes in-memory inputs (made only when needed)
        self.current: RunRecord | None = None
        self._closing = False  # shutdown: results are recorded, no dialogs
        self._before_run = None
        self._pending_preview = None
        self._live_landmarks = False  # the live landmark fit was turned on by choosing a landmark method
        self.controller = RunController(self)
        self.comparison = RunComparison(self.grid)
        self._build()
        self._connect()
        self.set_registry(self.registry)
        self._content_changed()

    # ---- widgets ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        self.stage_combo = QComboBox()
        self.stage_combo.setObjectName("stageCombo")
        self.stage_combo.setToolTip("The stage of the chain whose parameters the form shows")
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("methodCombo")
        self.method_combo.setToolTip("Every registered method, plugins included. Choosing one runs it alone.")
        self.description = QLabel()
        self.description.setObjectName("presetDescription")
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(window-text);")  # readable: not grey on grey
        self.form = ParameterForm()
        self.inputs = RunInputs()
        self.mask_combo, self.labels_check = self.inputs.mask_combo, self.inputs.labels_check
        self.channel_combo = self.inputs.channel_combo
        self.start_combo, self.isolate_check = self.inputs.start_combo, self.inputs.isolate_check

        choose = QFormLayout()
        choose.setContentsMargins(0, 0, 0, 0)
        choose.addRow("Preset:", self.preset_combo)
        choose.addRow("Stage:", self.stage_combo)
        choose.addRow("Method:", self.method_combo)
        self._stage_label = choose.labelForField(self.stage_combo)

        setup = QWidget()
        setup_layout = QVBoxLayout(setup)
        setup_layout.setContentsMargins(6, 6, 6, 6)
        setup_layout.addLayout(choose)
        setup_layout.addWidget(self.description)
        setup_layout.addWidget(self._line())
        setup_layout.addWidget(self.inputs)
        setup_layout.addWidget(self._line())
        setup_layout.addWidget(self.form)
        setup_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("parameterScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(setup)

        self.progress = ProgressPanel()
        run_box = QGroupBox("Run")
        run_layout = QVBoxLayout(run_box)
        run_layout.setContentsMargins(6, 4, 6, 6)
        run_layout.addWidget(self.progress)

        self.history = HistoryPanel(self.session.history)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("registrationTabs")
        self.tabs.addTab(scroll, "Parameters")
        self.tabs.addTab(self.history, "History")
        self._count_runs()
        subscribe(self, self.session.history.added, self._count_runs)
        subscribe(self, self.session.history.cleared, self._count_runs)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(2, 2, 2, 2)
        body_layout.addWidget(self.tabs, 1)
        body_layout.addWidget(run_box)
        self.setWidget(body)

        self.run_button = self.progress.run_button
        self.cancel_button = self.progress.cancel_button
        self.progress_bar = self.progress.progress_bar
        self.history_list = self.history.list
        self.copy_command_button = self.history.copy_button

    @staticmethod
    def _line() -> QFrame:
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        return line

    def _connect(self) -> None:
        self.preset_combo.activated.connect(lambda _index: self._preset_chosen())
        self.stage_combo.activated.connect(lambda index: self._stage_chosen(index))
        self.method_combo.activated.connect(lambda _index: self._method_chosen())
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.controller.progressed.connect(self._on_progress)
        self.controller.previewed.connect(self._on_preview)
        self.controller.finished.connect(self._on_finished)
        self.controller.evaluated.connect(self._on_evaluated)
        self.controller.ready.connect(self._on_ready)
        self.history.showRequested.connect(self.show_run)
        self.history.compareRequested.connect(self.compare_runs)
        self.history.startRequested.connect(self.use_as_start)
        self.history.commandRequested.connect(self.copy_command)
        self.grid.contentChanged.connect(self._content_changed)
        self.grid.transformChanged.connect(lambda preview: None if preview else self._rebuild_start_choices())

    def set_registry(self, registry: Registry) -> None:
        """List the methods of ``registry`` (broken plugins greyed out with their reason) and reset the form."""
        self.registry = registry
        self.session.registry = registry
        self.isolate_check.setEnabled(registry is default_registry())  # a child process rebuilds only that one
        self.method_combo.clear()
        for name, method in registry.methods.items():
            self.method_combo.addItem(f"{method.label} ({name})", name)
            self.method_combo.setItemData(
                self.method_combo.count() - 1, method.description, Qt.ItemDataRole.ToolTipRole
            )
        for name, reason in registry.errors.items():
            self.method_combo.addItem(f"{name} (failed to load)", None)
            index = self.method_combo.count() - 1
            self.method_combo.setItemData(index, reason, Qt.ItemDataRole.ToolTipRole)
            self.method_combo.model().item(index).setEnabled(False)
        self.preset_combo.clear()
        for name, preset in self.presets.items():
            if all(stage.method in registry.methods for stage in preset.stages):
                self.preset_combo.addItem(preset.label, name)
                self.preset_combo.setItemData(
                    self.preset_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
                )
        self.preset_combo.insertSeparator(self.preset_combo.count())
        self.preset_combo.addItem("Single method", SINGLE_METHOD)
        self.preset_combo.setCurrentIndex(0)
        self._preset_chosen()

    # ---- choosing what to run -----------------------------------------------------------------
    def select_preset(self, name: str) -> None:
        """Choose a preset by name ("" = single method); its stages take the preset's values."""
        index = self.preset_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown preset {name!r}")
        self.preset_combo.setCurrentIndex(index)
        self._preset_chosen()

    def select_method(self, name: str) -> None:
        """Run one method alone (with its defaults)."""
        index = self.method_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown method {name!r}")
        self.method_combo.setCurrentIndex(index)
        self._method_chosen()

    def _preset_chosen(self) -> None:
        name = self.preset_combo.currentData()
        if name == SINGLE_METHOD or name is None:
            method = self.method_combo.currentData() or next(iter(self.registry.names()), None)
            if method is None:  # every method failed to load: nothing to run
                self.stages, self.preset_name = [], None
                self.form.set_parameters(())
                self.run_button.setEnabled(False)
                self.progress.status_label.setText("No registration method could be loaded (see the method list)")
                return
            self._set_chain(None, [Stage(method, resolve_parameters(self.registry.get(method)))])
            return
        preset = self.presets[name]
        stages = [Stage(s.method, resolve_parameters(self.registry.get(s.method), s.parameters)) for s in preset.stages]
        self._set_chain(name, stages)

    def _method_chosen(self) -> None:
        name = self.method_combo.currentData()
        if name is None:
            return
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(SINGLE_METHOD))
        self._set_chain(None, [Stage(name, resolve_parameters(self.registry.get(name)))])

    def _set_chain(self, preset: str | None, stages: list[Stage]) -> None:
        self.preset_name, self.stages, self.stage_index = preset, stages, 0
        self.stage_combo.clear()
        for index, stage in enumerate(stages, 1):
            self.stage_combo.addItem(f"{index}/{len(stages)}: {self.registry.get(stage.method).label}")
        several = len(stages) > 1
        self.stage_combo.setVisible(several)
        if self._stage_label is not None:
            self._stage_label.setVisible(several)
        text = self.presets[preset].description if preset else self.registry.get(stages[0].method).description
        self.description.setText(description_html(text))
        self.inputs.set_auto_mask(self.presets[preset].mask if preset else None)
        self._show_stage(0)
        self._follow_landmark_method()

    def _follow_landmark_method(self) -> None:
        """A landmark method chosen alone: the landmark panel refits it live while a point is dragged
        (BigWarp-style). Choosing another method turns that off again, unless the user had turned it on."""
        landmarks = self.landmarks
        if landmarks is None:
            return
        method = self.stages[0].method if len(self.stages) == 1 else ""
        kind = getattr(self.registry.get(method), "kind", None) if method.startswith("landmark-") else None
        if kind in FIT_KINDS:
            self._live_landmarks = self._live_landmarks or not landmarks.live
            landmarks.set_fit(kind=kind, live=True, regularisation=self.stages[0].parameters.get("regularisation"))
        elif self._live_landmarks:
            self._live_landmarks = False
            landmarks.set_fit(live=False)

    def _show_stage(self, index: int) -> None:
        self.stage_index = index
        self.stage_combo.setCurrentIndex(index)
        stage = self.stages[index]
        self.method_combo.setCurrentIndex(self.method_combo.findData(stage.method))
        self.form.set_parameters(self.registry.get(stage.method).parameters, stage.parameters)

    def _stage_chosen(self, index: int) -> None:
        if index == self.stage_index:
            return
        if not self._commit_form():
            self.stage_combo.setCurrentIndex(self.stage_index)
            return
        self._show_stage(index)

    def _commit_form(self) -> bool:
        """Store the form's values in the edited stage; False (after a dialog) when some are invalid."""
        try:
            values = self.form.values()
        except RegViewerError as error:
            self.progress.status_label.setText(f"Invalid parameters: {error}")
            return self.window_.show_error("Invalid parameters", f"Check the highlighted fields: {error}")
        stage = self.stages[self.stage_index]
        self.stages[self.stage_index] = Stage(stage.method, values)
        return True

    # ---- inputs -------------------------------------------------------------------------------
    def _content_changed(self) -> None:
        scene = self.grid.scene
        self.inputs.content_changed(scene)
        self._rebuild_start_choices()
        ready = scene.fixed is not None and scene.moving is not None
        if not self.controller.running:
            self.run_button.setEnabled(ready)
            self.progress.status_label.setText("Ready" if ready else "Open a fixed and a moving image to register them")

    def _rebuild_start_choices(self) -> None:
        runs = [
            (record.run_id, record.title)
            for record in self.session.history
            if record.result is not None and record.status != "failed" and self._shown(record)
        ]
        self.inputs.rebuild_start_choices(self.grid.scene, self.landmarks is not None, runs)

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> RunRecord | None:
        """Start a run with the current settings; returns its history record (None when refused)."""
        if self.controller.running:
            return None
        if not self.workspace.ready:
            self.window_.show_error("Cannot register", "Open a fixed and a moving image first.")
            return None
        if not self._commit_form():
            return None
        stages = tuple(self.stages)
        try:
            validate_stages(stages, self.registry)
        except RegViewerError as error:
            self.window_.show_error("Invalid parameters", str(error))
            return None
        fixed_points, moving_points, warning = landmark_pairs(self.landmarks, self.workspace.fixed.ndim)
        if warning:
            self.progress.status_label.setText(warning)
        title = self.presets[self.preset_name].label if self.preset_name else self.registry.get(stages[0].method).label
        plan = RunPlan(
            stages,
            title,
            self.preset_name,
            self.inputs.mask_roles(),
            self.inputs.use_labels(),
            self.inputs.start_choice(),
            fixed_points=fixed_points,
            moving_points=moving_points,
            mask_label=self.mask_combo.currentText(),
            channel=self.inputs.channel(),
            auto_mask=self.presets[self.preset_name].mask if self.preset_name else None,
        )
        try:
            prepared = self.session.prepare(plan, validate=False)
        except RegViewerError as error:
            self.window_.show_error(
                "Cannot start from the landmarks" if "landmark" in str(error) else "Cannot register", str(error)
            )
            return None
        record = prepared.record
        self.comparison.stop()
        self._before_run = self.workspace.transform
        self.current = record
        self.session.history.new_id()
        self.session.history.add(record)
        self.progress.begin(f"Running {title}...")
        self.controller.start(
            RunJob(record.run_id, stages, prepared.request, prepared.evaluation, self.registry, self.inputs.isolated())
        )
        return record

    def cancel(self) -> None:
        if self.controller.running and self.current is not None:
            self.controller.cancel()
            self.cancel_button.setEnabled(False)
            self.progress.status_label.setText("Cancelling: the last transform will be kept...")

    def _on_progress(self, steps) -> None:
        if self.current is not None and steps and steps[0].run_id == self.current.run_id:
            self.progress.add_steps(steps)

    def _on_preview(self, payload) -> None:
        run_id, transform = payload
        if self.current is None or run_id != self.current.run_id:
            return
        first = self._pending_preview is None
        self._pending_preview = transform
        if first:
            QTimer.singleShot(0, self._apply_preview)  # the newest preview wins when several are queued

    def _apply_preview(self) -> None:
        transform, self._pending_preview = self._pending_preview, None
        if (
            transform is not None
            and self.current is not None
            and self.current.result is None
            and self._shown(self.current)
        ):
            self.grid.set_transform(transform, preview=True)

    def _shown(self, record: RunRecord) -> bool:
        """True when the window still shows the images ``record`` registered (its transform fits them)."""
        scene = self.grid.scene
        return len(record.images) == 2 and record.images[0] is scene.fixed and record.images[1] is scene.moving

    def _count_runs(self, *_) -> None:
        """The History tab names how many runs it holds (after a run, an opened session, a new one)."""
        count = len(self.session.history)
        self.tabs.setTabText(1, f"History ({count})" if count else "History")

    def _on_finished(self, payload) -> None:
        run_id, result = payload
        record = self.session.history.set_result(run_id, result)
        if record is None:
            return
        self._pending_preview = None
        if self.current is record:
            self.current = None
        self.progress.end(result.status, result.runtime_s, self._end_message(result), record.warnings)
        if self._closing:
            return
        if not self._shown(record):
            self.progress.status_label.setText(
                f"Run #{run_id} {result.status}: other images are open now, so it is kept in the history only"
            )
            if result.status == "failed":
                self.window_.show_error("Registration failed", f"{record.title}: {result.message}")
        elif result.status == "failed":
            self.window_.set_transform(self._before_run)
            self.window_.show_error("Registration failed", f"{record.title}: {result.message}")
        else:
            self.show_run(record)
            self.history.list.blockSignals(True)
            self.history.select(record)
            self.history.list.blockSignals(False)
            self.history.refresh(record)
        self._rebuild_start_choices()

    @staticmethod
    def _end_message(result) -> str:  # noqa: ANN001
        if result.status == "completed":
            return "Completed; computing the before / after figures (the next run can start)..."
        if result.status == "cancelled":
            return "Cancelled: the last transform is kept. Computing the figures..."
        return f"Failed: {result.message}"

    def _on_evaluated(self, payload) -> None:  # noqa: ANN001
        run_id, figures = payload
        record = self.session.history.set_figures(run_id, figures)
        if record is None or self.current is not None or record is not self.session.history.records[-1]:
            return  # another run is going, or a newer one ended: the panel speaks of that one
        lines = record.summary().splitlines()
        pending = "  (image metrics and HD95 follow...)" if record.figures_pending else ""
        self.progress.status_label.setText(
            f"{record.status.capitalize()}: {lines[1] if len(lines) > 1 else ''}{pending}"
        )
        self.progress.show_warnings(record.warnings)

    def _on_ready(self) -> None:
        self.progress.set_running(False)
        self.run_button.setEnabled(self.workspace.ready)

    # ---- history actions ----------------------------------------------------------------------
    def show_run(self, record: RunRecord) -> None:
        """Show a finished run's transform in the views."""
        if record.result is None:
            return
        if not self._shown(record):
            self.progress.status_label.setText(f"Run #{record.run_id} registered other images than the ones open now")
            return
        if self.current is not None and self.current is not record:
            self.progress.status_label.setText("A run is going: its preview stays in the views until it ends")
            return
        self.window_.set_transform(record.result.transform)

    def compare_runs(self, first: RunRecord, second: RunRecord) -> None:
        """The Warped view shows the first run, the fourth view the second."""
        if self.controller.running and self.current is not None:
            self.progress.status_label.setText("Compare runs after the current run has finished")
            return
        if not (self._shown(first) and self._shown(second)):
            self.progress.status_label.setText("Both runs must have registered the images open now")
            return
        self.comparison.start(
            first.result.transform,
            f"Run #{first.run_id}: {first.title}",
            second.result.transform,
            f"Run #{second.run_id}: {second.title}",
        )

    def use_as_start(self, record: RunRecord) -> None:
        """Start the next run from this run's transform."""
        self._rebuild_start_choices()
        if self.inputs.choose_run(record.run_id):
            self.progress.status_label.setText(f"The next run starts from run #{record.run_id}")

    def command_for(self, record: RunRecord) -> str:
        """The ``regviewer register ...`` line reproducing ``record`` (in-memory inputs written to a run folder)."""
        if self.runs_folder is None:  # named now, created only when a run has in-memory inputs to write
            self.runs_folder = Path(tempfile.gettempdir()) / f"regviewer-runs-{uuid.uuid4().hex[:12]}"
        return record_command(record, self.runs_folder, self.registry)

    def copy_command(self, record: RunRecord) -> str:
        """Copy the run's command to the clipboard and show it in the details; '' after an error dialog."""
        try:
            line = self.command_for(record)
        except (ValueError, RegViewerError, OSError) as error:
            self.window_.show_error("Cannot write the command", str(error))
            return ""
        record.command = line
        QGuiApplication.clipboard().setText(line)
        self.session.history.touch(record)
        if record not in self.history.selected():
            self.history.details.setPlainText(record.details())
        self.window_.statusBar().showMessage("Command copied to the clipboard", 5000)
        return line

    # ---- shutdown -----------------------------------------------------------------------------
    def shutdown(self) -> bool:
        """Cancel a run, stop the figures and wait for the threads (the window is closing: no dialogs)."""
        self._closing = True
        try:
            return self.controller.shutdown()
        finally:
            self._closing = False


def install_run_dock(window, session: RunSession, landmarks=None, registry: Registry | None = None) -> RunDock:  # noqa: ANN001
    """The registration dock of ``window`` (added on the right; the window arranges its docks and keeps it)."""
    dock = RunDock(window, session, landmarks, registry)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    view_menu = next((menu for menu in window.menuBar().findChildren(QMenu) if menu.title() == "&View"), None)
    if view_menu is not None:
        view_menu.addAction(dock.toggleViewAction())
    return dock
