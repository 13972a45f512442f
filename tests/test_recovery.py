"""Autosave and recovery: debounce, slots of live and dead windows, kill -9 at any moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from regviewer.app.recovery import Autosaver, RecoveryStore
from regviewer.app.session_document import LandmarkPair, RunEntry, Session
from regviewer.core.transforms import AffineTransform


def _session(count: int) -> Session:
    return Session(
        landmarks=[
            LandmarkPair(f"L{index}", (float(index), 0.0, 0.0), (float(index), 1.0, 0.0)) for index in range(count)
        ],
        runs=[RunEntry(1, "affine", "completed", transform=AffineTransform(np.eye(3), np.array([1.0, 2.0, 3.0])))],
        notes=f"{count} landmarks",
    )


def test_debounce_waits_for_quiet_or_max_wait() -> None:
    now = [100.0]
    saver = Autosaver(RecoveryStore(os.devnull), quiet_s=1.0, max_wait_s=4.0, clock=lambda: now[0])
    try:
        assert not saver.due()
        saver.changed()
        now[0] += 0.5
        assert not saver.due()
        now[0] += 0.6
        assert saver.due()  # quiet for 1.1 s
        saver._first_change = None
        for _ in range(8):  # a drag: a change every 0.5 s never leaves 1 s of quiet
            saver.changed()
            now[0] += 0.5
        assert saver.due()  # but 4 s after the first change the snapshot is taken anyway
    finally:
        saver.close()


def test_write_list_recover_and_discard(tmp_path: Path) -> None:
    mine = RecoveryStore(tmp_path)
    saver = Autosaver(mine, quiet_s=0.0)
    try:
        saver.changed()
        assert saver.run_pending(lambda: (_session(3), "brain pair", "/data/brain.regviewer"))
        assert saver.flush() and saver.writes == 1 and saver.last_error is None
        assert RecoveryStore(tmp_path).recoverable() == []  # this window is alive: its slot is not offered
        assert mine.slot is not None and (mine.slot / "session.regviewer" / "session.json").is_file()
        saver.clean()
        assert mine.slot is None and list(tmp_path.iterdir()) == []
    finally:
        saver.close()


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from regviewer.app.recovery import RecoveryStore
    from regviewer.app.session_document import LandmarkPair, RunEntry, Session
    from regviewer.core.transforms import AffineTransform
    store = RecoveryStore(sys.argv[1])
    count = 0
    while True:
        count += 1
        runs = [RunEntry(run, "affine", "completed", transform=AffineTransform(np.eye(3), np.array([run, 0.0, 0.0])))
                for run in range(1, 2 + count // 5)]
        session = Session(landmarks=[LandmarkPair(f"L{i}", (float(i), 0.0, 0.0), None) for i in range(count)],
                          runs=runs, notes=str(count))
        store.write(session, title="child")
        print(count, flush=True)
""")


def test_kill_9_at_any_moment_leaves_a_readable_recovery(tmp_path: Path) -> None:
    """A child autosaves as fast as it can; SIGKILL at random moments never leaves a broken slot."""
    rng = np.random.default_rng(7)
    for attempt in range(4):
        folder = tmp_path / f"attempt{attempt}"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, text=True)
        first = child.stdout.readline()  # at least one complete autosave
        assert first.strip() == "1"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        found = RecoveryStore(folder).recoverable()
        assert len(found) == 1 and found[0].title == "child"
        opened = RecoveryStore.open(found[0])
        session = opened.session
        assert len(session.landmarks) == int(session.notes) >= 1
        for run in session.runs:  # every transform the document names is there and whole
            assert run.load_transform() is not None
        RecoveryStore(folder).forget(found[0])
        assert RecoveryStore(folder).recoverable() == []


def test_write_failure_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    errors: list[Exception] = []
    saver = Autosaver(RecoveryStore(blocker / "recovery"), quiet_s=0.0, on_error=errors.append)
    try:
        saver.submit(_session(1))
        assert saver.flush()
        assert len(errors) == 1 and saver.writes == 0
    finally:
        saver.close()


def test_flush_after_close_does_not_wait_for_a_stopped_writer(tmp_path):
    """A window shut down twice (a script, then closing it) must not wait for a writer that has stopped:
    before the fix flush() waited its whole timeout and returned False."""
    saver = Autosaver(RecoveryStore(tmp_path))
    saver.close()
    saver._pending = ("never written", "", None)  # what a late submit leaves behind
    assert saver.flush(timeout_s=20.0)
