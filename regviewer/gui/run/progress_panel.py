"""Run / Cancel buttons, the progress bar, elapsed and remaining time, a status line and the live metric curve.

The panel only displays: the dock feeds it ``ProgressStep`` batches from the worker. A run's
warnings (folding, a metric worse than before, a stage that diverged) are shown under the status
line in orange, so a doubtful result never looks like a plain success. Each run starts with an
empty plot (the previous run's axes are not kept); a method that reports no metric says so. The bar shows
the share of the whole chain done (stages, levels, iterations within the level's budget) and its
text says where the run is ("bspline 2/2 - level 3/3 - iteration 8/14"). The remaining time is
extrapolated from that share: a rough estimate (stages and levels differ in cost per iteration, and
optimisers may stop before their budget).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from regviewer.gui.run.history import WARNING_COLOUR
from regviewer.gui.run.worker import ProgressStep

STEPS = 1000  # progress bar resolution
CURVE_PEN = pg.mkPen((80, 180, 255), width=2)


def short_warning(text: str, limit: int = 90) -> str:
    """The first clause of a warning (the advice after ": check" / ";" is in the tooltip and History)."""
    for cut in (": check", "; "):
        text = text.split(cut, 1)[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


class ProgressPanel(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Register the moving image to the fixed image with these settings")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the run; its last transform is kept as a 'cancelled' result")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setRange(0, STEPS)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Idle")
        self.time_label = QLabel("")
        self.time_label.setObjectName("timeLabel")
        self.status_label = QLabel("Ready")
        self.status_label.setObjectName("runStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label = QLabel("")
        self.warnings_label.setObjectName("runWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet(f"color: {WARNING_COLOUR}; font-weight: bold;")
        self.warnings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label.hide()
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("metricPlot")
        self.plot.setMinimumHeight(90)
        self.plot.setMaximumHeight(150)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "metric")
        self.plot.setLabel("bottom", "iteration (all levels)")
        self.plot.getAxis("left").setWidth(44)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=CURVE_PEN, connect="finite")
        self.no_metric = pg.TextItem("", color=(150, 150, 150), anchor=(0.5, 0.5))
        self.plot.addItem(self.no_metric, ignoreBounds=True)
        self.no_metric.setPos(0.5, 0.5)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.time_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.plot)
        self._x: list[float] = []
        self._y: list[float] = []
        self._last_place: tuple | None = None
        self._started = 0.0
        self._fraction = 0.0
        self._clock = QTimer(self)
        self._clock.setInterval(250)
        self._clock.timeout.connect(self._update_time)

    # ---- run lifecycle ------------------------------------------------------------------------
    def begin(self, text: str) -> None:
        self._x, self._y, self._last_place = [], [], None
        self.curve.setData([], [])
        self.plot.setXRange(0, 1, padding=0)  # no axes kept from the previous run
        self.plot.setYRange(0, 1, padding=0)
        self.plot.enableAutoRange()
        self.no_metric.setText("")
        self.show_warnings(())
        self._started, self._fraction = time.perf_counter(), 0.0
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting...")
        self.status_label.setText(text)
        self.set_running(True)
        self._clock.start()
        self._update_time()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def end(self, status: str, runtime_s: float, message: str, warnings=()) -> None:  # noqa: ANN001
        self._clock.stop()
        if not self._y:
            self.no_metric.setText("no metric reported by this method")
        if status == "completed":
            self.progress_bar.setValue(STEPS)
        self.progress_bar.setFormat(f"{status.capitalize()} - %p%")
        self.time_label.setText(f"Took {format_seconds(runtime_s)}")
        self.status_label.setText(message)
        self.cancel_button.setEnabled(False)
        self.show_warnings(warnings)

    def show_warnings(self, warnings) -> None:  # noqa: ANN001
        """Show a run's warnings under the status line (hidden when there are none)."""
        warnings = list(warnings)
        self.warnings_label.setText("\n".join(f"Warning: {short_warning(warning)}" for warning in warnings))
        self.warnings_label.setToolTip(
            "\n\n".join(warnings) + ("\n\n(also in the run's History details)" if warnings else "")
        )
        self.warnings_label.setVisible(bool(warnings))

    # ---- progress -----------------------------------------------------------------------------
    def add_steps(self, steps: tuple[ProgressStep, ...]) -> None:
        """Show a batch of progress steps (in order) from the worker."""
        for step in steps:
            place = (step.stage_index, step.level)
            if self._last_place is not None and place != self._last_place and self._y:
                self._x.append(self._x[-1])
                self._y.append(math.nan)  # a break between levels: their metric values are not comparable
            self._last_place = place
            if step.metric is not None and math.isfinite(step.metric):
                self._x.append(float(len(self._x)))
                self._y.append(step.metric)
        if self._y:
            self.curve.setData(np.asarray(self._x), np.asarray(self._y))
        last = steps[-1]
        self._fraction = last.fraction()
        self.progress_bar.setValue(int(round(self._fraction * STEPS)))
        budget = f"/{last.max_iterations}" if last.max_iterations else ""
        self.progress_bar.setFormat(
            f"{last.stage} {last.stage_index + 1}/{last.n_stages} - level {last.level + 1}/{last.n_levels}"
            f" - iteration {last.iteration + 1}{budget}"
        )
        if last.metric is not None:
            self.status_label.setText(f"metric {last.metric:.5g}" + (f" - {last.message}" if last.message else ""))
        elif last.message:
            self.status_label.setText(last.message)

    def _update_time(self) -> None:
        elapsed = time.perf_counter() - self._started
        text = f"Elapsed {format_seconds(elapsed)}"
        if 0.02 < self._fraction < 1.0 and elapsed > 1.0:
            text += f"  -  about {format_seconds(elapsed / self._fraction * (1 - self._fraction))} left (estimate)"
        self.time_label.setText(text)

    def points(self) -> int:
        """How many metric values the curve shows (for tests and scripts)."""
        return int(np.sum(np.isfinite(self._y))) if self._y else 0
