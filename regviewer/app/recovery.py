"""Autosave and crash recovery: the session is written to the user state folder a few seconds after a change.

Each running window owns a *slot*: ``<state>/recovery/<slot>/`` with a lock file it holds while it
runs, a folder bundle ``session.regviewer`` (written with session_io, so transforms are written once
and each autosave replaces only ``session.json`` atomically) and ``meta.json`` (when, what title,
which session file it belongs to). A slot whose lock nobody holds belongs to a window that died
(crash, kill -9, power cut): the next start lists it as recoverable. A clean save or quit discards
the slot.

The operating system releases the lock of a killed process, so a dead window is recognised even
when its process id has been reused.

``Autosaver`` debounces: ``changed()`` only records the time (cheap enough for every mouse move of a
landmark drag); ``due()`` says when to take a snapshot (after ``quiet_s`` without changes, or
``max_wait_s`` after the first unsaved change, whichever comes first); ``submit(session)`` hands the
snapshot to a writer thread, so the caller (the GUI thread) never waits for the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regviewer.app.session_document import Session
from regviewer.app.session_io import OpenedSession, open_session, save_session
from regviewer.core.io.atomic import write_text_atomic

BUNDLE = "session.regviewer"
META = "meta.json"
LOCK = "lock"


def default_folder() -> Path:
    """``<user state folder>/recovery`` (e.g. ~/.local/state/regviewer/recovery on Linux).

    ``$REGVIEWER_RECOVERY_DIR`` overrides it (tests, portable installs).
    """
    configured = os.environ.get("REGVIEWER_RECOVERY_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_state_dir("regviewer", "RegViewer")) / "recovery"


class _FileLock:
    """An exclusive, non-blocking lock on a file, released by the OS when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def acquire(self) -> bool:
        handle = open(self.path, "a+b")
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()  # closing releases flock / msvcrt locks
            self._handle = None


@dataclass(frozen=True)
class Recoverable:
    """A session left behind by a window that did not close cleanly."""

    slot: Path
    saved_at: float
    title: str
    session_path: str | None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        return f"{self.title or 'unsaved session'} (autosaved {when})"


class RecoveryStore:
    """The recovery slots of this user (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self.slot: Path | None = None
        self._lock: _FileLock | None = None

    # ---- this window's slot ------------------------------------------------------------------
    def _claim(self) -> Path:
        if self.slot is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            slot = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            slot.mkdir()
            lock = _FileLock(slot / LOCK)
            if not lock.acquire():
                raise OSError(f"{slot}: cannot lock the recovery slot")
            self.slot, self._lock = slot, lock
        return self.slot

    def write(self, session: Session, title: str = "", session_path: str | None = None) -> Path:
        """Write ``session`` to this window's slot (atomically; the previous autosave stays valid until then)."""
        slot = self._claim()
        save_session(session, slot / BUNDLE)
        meta = {"saved_at": time.time(), "title": title, "session_path": session_path, "pid": os.getpid()}
        write_text_atomic(slot / META, json.dumps(meta))
        return slot / BUNDLE

    def discard(self) -> None:
        """Remove this window's slot (after a clean save or quit)."""
        if self.slot is not None:
            slot, self.slot = self.slot, None
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            shutil.rmtree(slot, ignore_errors=True)

    # ---- other windows' slots -----------------------------------------------------------------
    def recoverable(self) -> list[Recoverable]:
        """Sessions of windows that died, newest first (slots of running windows are skipped)."""
        found = []
        if not self.folder.is_dir():
            return found
        for slot in self.folder.iterdir():
            if slot == self.slot or not slot.is_dir():
                continue
            lock = _FileLock(slot / LOCK)
            if not lock.acquire():
                continue  # a running window holds it
            lock.release()
            if not (slot / BUNDLE / "session.json").is_file():
                shutil.rmtree(slot, ignore_errors=True)  # died before its first autosave completed
                continue
            try:
                meta = json.loads((slot / META).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {"saved_at": (slot / BUNDLE / "session.json").stat().st_mtime}
            found.append(
                Recoverable(
                    slot, float(meta.get("saved_at", 0.0)), str(meta.get("title", "")), meta.get("session_path")
                )
            )
        return sorted(found, key=lambda item: item.saved_at, reverse=True)

    @staticmethod
    def open(recoverable: Recoverable) -> OpenedSession:
        return open_session(recoverable.slot / BUNDLE)

    def forget(self, recoverable: Recoverable) -> None:
        """Remove a dead window's slot (recovered into this window, or declined)."""
        lock = _FileLock(recoverable.slot / LOCK)
        if lock.acquire():
            lock.release()
            shutil.rmtree(recoverable.slot, ignore_errors=True)


class Autosaver:
    """Debounced autosave through a writer thread (see the module docstring)."""

    def __init__(
        self,
        store: RecoveryStore,
        quiet_s: float = 1.0,
        max_wait_s: float = 4.0,
        on_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.quiet_s, self.max_wait_s = quiet_s, max_wait_s
        self.on_error = on_error
        self.clock = clock
        self.writes = 0
        self.last_error: Exception | None = None
        self._first_change: float | None = None
        self._last_change = 0.0
        self._pending: tuple[Session, str, str | None] | None = None
        self._writing = False
        self._condition = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="regviewer-autosave", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        """Record a change (cheap: two assignments)."""
        now = self.clock()
        if self._first_change is None:
            self._first_change = now
        self._last_change = now

    def due(self) -> bool:
        """True when a snapshot should be taken now."""
        if self._first_change is None:
            return False
        now = self.clock()
        return now - self._last_change >= self.quiet_s or now - self._first_change >= self.max_wait_s

    @property
    def dirty(self) -> bool:
        return self._first_change is not None

    def submit(self, session: Session, title: str = "", session_path: str | None = None) -> None:
        """Queue ``session`` for writing (a newer snapshot replaces one not yet written); returns at once."""
        self._first_change = None
        with self._condition:
            self._pending = (session, title, session_path)
            self._condition.notify()

    def run_pending(self, snapshot: Callable[[], tuple[Session, str, str | None]]) -> bool:
        """If due, take ``snapshot()`` (on the caller's thread) and submit it; True when submitted."""
        if not self.due():
            return False
        self.submit(*snapshot())
        return True

    def clean(self) -> None:
        """The work is saved (or discarded): forget pending changes and remove the recovery slot."""
        self._first_change = None
        with self._condition:
            self._pending = None
            while self._writing:
                self._condition.wait(0.1)
            self.store.discard()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything submitted is written; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while (self._pending is not None and self._thread.is_alive()) or self._writing:
                if not self._condition.wait(max(0.0, deadline - time.monotonic())):
                    return False
        return True

    def close(self) -> None:
        """Stop the writer thread (after the current write)."""
        with self._condition:
            self._stop = True
            self._condition.notify_all()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._stop:
                    self._condition.wait()
                if self._stop:
                    return
                job, self._pending = self._pending, None
                self._writing = True
            try:
                self.store.write(*job)
                self.writes += 1
            except Exception as error:  # a full disk must not kill the window: report it and keep going
                self.last_error = error
                if self.on_error is not None:
                    with contextlib.suppress(Exception):
                        self.on_error(error)
            finally:
                with self._condition:
                    self._writing = False
                    self._condition.notify_all()
