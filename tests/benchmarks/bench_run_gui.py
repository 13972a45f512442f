"""GUI responsiveness during a background registration, and cancel latency.

On the bundled 3D brain pair (regviewer.paths.SAMPLE_3D_*), with the window at its default size and
the registration dock's "Deformable (B-spline)" preset (affine, then B-spline):

- stall: a 10 ms QTimer runs in the GUI event loop during the run; a "stall" is the longest gap
  between two of its ticks (minus nothing: a perfectly idle loop shows ~10 ms). Reported per phase:
  the engine running (with live previews), and the before / after figures computed after the run.
- preview: time the GUI thread spends drawing one live preview (four views resampled).
- cancel: time from Cancel to the cancelled result arriving in the GUI, cancelling at several
  moments of the B-spline stage (and once in the affine stage); "engine" when the engine's own
  result came back, "stand-in" when the worker sent its last reported transform after the grace time.
- idle: the same timer in the idle window first, as a baseline for the machine's load.

Targets: longest stall < 50 ms, cancel < 1 s.

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_run_gui.py [--cancels 3] [--mode process|thread]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402


class Probe:
    """Ticks of a 10 ms timer and marks of the run's events, on the GUI thread."""

    def __init__(self, dock) -> None:
        self.ticks: list[float] = []
        self.marks: dict[str, float] = {}
        self.preview_s: list[float] = []
        self.progress_s: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        apply_preview, on_progress = dock._apply_preview, dock._on_progress

        def timed_preview() -> None:
            start = time.perf_counter()
            apply_preview()
            self.preview_s.append(time.perf_counter() - start)

        def timed_progress(steps) -> None:
            start = time.perf_counter()
            on_progress(steps)
            self.progress_s.append(time.perf_counter() - start)

        dock._apply_preview = timed_preview
        dock.controller.progressed.disconnect(on_progress)
        dock.controller.progressed.connect(timed_progress)

    def longest_gap_ms(self, start: float, end: float) -> tuple[float, float, int]:
        """(longest gap, 99th percentile gap, gaps over 50 ms) between ticks inside [start, end]."""
        ticks = np.array([t for t in self.ticks if start <= t <= end])
        if len(ticks) < 2:
            return float("nan"), float("nan"), 0
        gaps = np.diff(np.concatenate([[start], ticks, [end]])) * 1000
        return float(gaps.max()), float(np.percentile(gaps, 99)), int(np.sum(gaps > 50))


def run_once(window, probe: Probe, cancel_stage: str | None = None, cancel_after_s: float = 0.0):
    dock = window.run_dock
    loop = QEventLoop()
    marks: dict[str, float] = {}

    def finished(_payload) -> None:
        marks.setdefault("finished", time.perf_counter())

    def idle() -> None:
        marks["idle"] = time.perf_counter()
        loop.quit()

    def cancel() -> None:
        marks["cancel"] = time.perf_counter()
        dock.cancel()

    def progressed(steps) -> None:
        if cancel_stage and "stage_seen" not in marks and any(step.stage == cancel_stage for step in steps):
            marks["stage_seen"] = time.perf_counter()
            QTimer.singleShot(int(cancel_after_s * 1000), cancel)

    dock.controller.finished.connect(finished)
    dock.controller.idle.connect(idle)
    dock.controller.progressed.connect(progressed)
    probe.ticks.clear()
    probe.preview_s.clear()
    probe.progress_s.clear()
    probe.timer.start()
    marks["start"] = time.perf_counter()
    record = dock.run()
    loop.exec()
    probe.timer.stop()
    for signal, slot in (
        (dock.controller.finished, finished),
        (dock.controller.idle, idle),
        (dock.controller.progressed, progressed),
    ):
        signal.disconnect(slot)
    return record, marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cancels", type=int, default=3, help="cancels during the B-spline stage")
    parser.add_argument(
        "--mode",
        choices=("process", "thread"),
        default="process",
        help="run the engine in a child process (the dock's default) or in the worker thread",
    )
    args = parser.parse_args()
    from regviewer import paths
    from regviewer.gui.app import application
    from regviewer.gui.main_window import MainWindow

    app = application()
    settings = QSettings(str(Path("/tmp") / "bench_run_gui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(
        fixed=paths.SAMPLE_3D_FIXED,
        moving=paths.SAMPLE_3D_MOVING,
        fixed_labels=paths.SAMPLE_3D_FIXED_LABELS,
        moving_labels=paths.SAMPLE_3D_MOVING_LABELS,
        settings=settings,
    )
    window.show()
    app.processEvents()
    dock = window.run_dock
    dock.select_preset("deformable")
    dock.isolate_check.setChecked(args.mode == "process")
    probe = Probe(dock)
    print(
        f"engine in a {args.mode}; 3D pair {window.grid.scene.fixed.shape} / {window.grid.scene.moving.shape}; load average {os.getloadavg()[0]:.2f}"
    )

    idle_start = time.perf_counter()
    loop = QEventLoop()
    QTimer.singleShot(3000, loop.quit)
    probe.timer.start()
    loop.exec()
    probe.timer.stop()
    idle_gap = probe.longest_gap_ms(idle_start, time.perf_counter())
    record, marks = run_once(window, probe)
    run_gap = probe.longest_gap_ms(marks["start"], marks["finished"])
    eval_gap = probe.longest_gap_ms(marks["finished"], marks["idle"])
    previews, progress = list(probe.preview_s), list(probe.progress_s)
    rows = [
        (
            "idle window, no run, 3 s (max / p99 / >50 ms)",
            f"{idle_gap[0]:.0f} / {idle_gap[1]:.0f} ms / {idle_gap[2]}",
            "",
        ),
        ("full run: status", record.status, ""),
        ("full run: engine time", f"{record.result.runtime_s:.1f} s", ""),
        ("full run: figures time", f"{marks['idle'] - marks['finished']:.1f} s", ""),
        (
            "stall while the engine runs (max / p99 / >50 ms)",
            f"{run_gap[0]:.0f} / {run_gap[1]:.0f} ms / {run_gap[2]}",
            "< 50 ms",
        ),
        (
            "stall while figures are computed (max / p99 / >50 ms)",
            f"{eval_gap[0]:.0f} / {eval_gap[1]:.0f} ms / {eval_gap[2]}",
            "< 50 ms",
        ),
        (
            "live previews drawn (count, median / max)",
            f"{len(previews)}, {np.median(previews) * 1000:.0f} / {np.max(previews) * 1000:.0f} ms"
            if previews
            else "0",
            "",
        ),
        (
            "progress batches (count, max GUI time)",
            f"{len(progress)}, {np.max(progress) * 1000:.1f} ms" if progress else "0",
            "",
        ),
    ]
    moments = [("affine", 0.3)] + [("bspline", 0.5 + 5.0 * i / max(args.cancels - 1, 1)) for i in range(args.cancels)]
    for stage, after in moments:
        record, marks = run_once(window, probe, stage, after)
        latency = marks["finished"] - marks["cancel"] if "cancel" in marks else float("nan")
        gap = probe.longest_gap_ms(marks["start"], marks["finished"])
        how = "stand-in" if "had not stopped" in record.result.message else "engine"
        rows.append(
            (
                f"cancel {after:.1f} s into {stage}: status, latency",
                f"{record.status} ({how}), {latency * 1000:.0f} ms",
                "< 1000 ms",
            )
        )
        rows.append(("  stall during that run (max)", f"{gap[0]:.0f} ms", "< 50 ms"))
    width = max(len(name) for name, _, _ in rows) + 2
    print(f"{'measure':<{width}}{'value':>28}   target")
    for name, value, target in rows:
        print(f"{name:<{width}}{value:>28}   {target}")
    dock.shutdown()


if __name__ == "__main__":
    main()
