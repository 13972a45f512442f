"""Autosave cost while a landmark is dragged: drag steps with the autosave on and off, and the autosave's own GUI-thread time.

The window shows the 3D sample pair with 20 landmark pairs; one landmark is dragged at about 20 steps
per second for ``--seconds`` (a step: move the point in the model, let Qt process the events, repaint
the views). With the autosave on, its timer takes a snapshot of the model on the GUI thread (the only
part that runs there) at most every 4 s of continuous change, and a writer thread writes it.

Reported per configuration: the median / 90th percentile / max of the step latency, the number of
autosaves written during the drag, and the GUI-thread time of each autosave tick that took a snapshot.
The peer is the same drag with the autosave off, in the same run.

usage: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_autosave_drag.py [--seconds 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def drag(window, seconds: float, autosave: bool) -> dict:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    sessions = window.sessions
    ticks: list[float] = []
    original = sessions._autosave_tick

    def timed_tick() -> None:
        before = sessions.autosaver.writes, len(ticks)
        start = time.perf_counter()
        submitted = sessions.autosaver.due()
        original()
        if submitted:
            ticks.append(time.perf_counter() - start)
        del before

    sessions._timer.timeout.disconnect()
    sessions._timer.timeout.connect(timed_tick)
    if autosave:
        sessions._timer.start()
    else:
        sessions._timer.stop()
    landmarks = window.landmark_model.for_ndim(3)
    writes_before = sessions.autosaver.writes
    steps = []
    end = time.perf_counter() + seconds
    index = 0
    while time.perf_counter() < end:
        index += 1
        start = time.perf_counter()
        landmarks.set_point(0, "fixed", (10.0 + np.sin(index / 10), -5.0, 4.0), merge_key="drag")
        app.processEvents()
        window.grid.repaint()
        steps.append(time.perf_counter() - start)
        next_step = start + 0.05
        while time.perf_counter() < next_step:
            app.processEvents()
            time.sleep(0.002)
    sessions.autosaver.flush()
    return {"steps": steps, "ticks": ticks, "writes": sessions.autosaver.writes - writes_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-autosave-") as folder:
        os.environ["REGVIEWER_RECOVERY_DIR"] = str(Path(folder) / "recovery")
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        from regviewer import paths
        from regviewer.gui.main_window import MainWindow

        window = MainWindow(
            fixed=paths.SAMPLE_3D_FIXED,
            moving=paths.SAMPLE_3D_MOVING,
            settings=QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat),
        )
        window.resize(1400, 950)
        window.show()
        landmarks = window.landmark_model.for_ndim(3)
        rng = np.random.default_rng(0)
        for index in range(20):
            point = tuple(rng.uniform(-30, 30, 3))
            landmarks.add_pair(point, tuple(np.add(point, 1.5)), name=f"L{index}")
        app.processEvents()
        rows = []
        for label, autosave in (("autosave off (peer)", False), ("autosave on", True), ("autosave off (again)", False)):
            rows.append((label, drag(window, args.seconds, autosave)))
        peer = statistics.median(rows[0][1]["steps"])
        print(
            f"{'drag of 1 of 20 landmarks':<24}{'steps':>7}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}{'x peer':>8}"
            f"{'writes':>8}  autosave GUI-thread ms per snapshot (median / max)"
        )
        for label, result in rows:
            steps = sorted(result["steps"])
            median = statistics.median(steps)
            ticks = result["ticks"]
            tick_text = f"{1000 * statistics.median(ticks):.2f} / {1000 * max(ticks):.2f}" if ticks else "-"
            print(
                f"{label:<24}{len(steps):>7}{1000 * median:>11.2f}{1000 * steps[int(0.9 * len(steps))]:>9.2f}"
                f"{1000 * steps[-1]:>9.2f}{median / peer:>8.2f}{result['writes']:>8}  {tick_text}"
            )
        window.sessions.shutdown(keep_recovery=False)
        window.close()


if __name__ == "__main__":
    main()
