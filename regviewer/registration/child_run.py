"""Run a native registration call (elastix, ANTs) in a child process that can be abandoned at once.

ITK's and ANTs' Python bindings hold the Python lock for the whole registration call: no thread of the
caller could report progress or notice a cancel while it runs, and the call cannot be interrupted.
So the call runs in a child process, and the caller (the CLI, the GUI's engine child, a test) polls:

- the child's standard output and error go to a pseudo-terminal where there is one (line-buffered,
  so ANTs' iteration lines arrive as they are printed), else to a file; ``on_output`` gets the text;
- ``on_poll`` runs every ``poll_s`` (the elastix engine reads elastix's log file there);
- on cancel the child is terminated, and killed 0.3 s later if it is still alive: well within 1 s.

The child is forked where the platform allows it (Linux), so it inherits the already imported
bindings and the request's images without copies; elsewhere it is spawned (imports again, slower).
Results travel as files the child writes into the caller's working folder.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regviewer.core.progress import CancelToken

POLL_S = 0.1
KILL_AFTER_S = 0.3
ERROR_FILE = "child_error.txt"


@dataclass(frozen=True)
class ChildOutcome:
    """How the child ended: "completed", "cancelled" or "failed" (with the child's last error line)."""

    status: str
    message: str = ""


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def uses_fork() -> bool:
    """True when children are forked (the caller then pre-imports heavy bindings once)."""
    return _context().get_start_method() == "fork"


def _child_main(target: Callable[..., Any], args: tuple, workdir: str, terminal: int | None) -> None:
    """Child body: output to the terminal (or a file), run ``target``, leave at once (no parent atexit)."""
    code = 0
    try:
        if terminal is None:
            terminal = os.open(os.path.join(workdir, "child_output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(terminal, 1)
        os.dup2(terminal, 2)
        target(*args)
    except BaseException as error:  # noqa: BLE001  the child reports everything, then exits
        detail = traceback.format_exc()
        with open(os.path.join(workdir, ERROR_FILE), "w", encoding="utf-8") as handle:
            handle.write(f"{type(error).__name__}: {error}\n{detail}")
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(code)


def _read_available(fd: int | None) -> str:
    if fd is None:
        return ""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # the terminal closes when the child ends
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", errors="replace")


def run_in_child(
    target: Callable[..., Any],
    args: tuple,
    workdir: Path,
    cancel: CancelToken,
    on_poll: Callable[[], None] = lambda: None,
    on_output: Callable[[str], None] = lambda text: None,
    poll_s: float = POLL_S,
) -> ChildOutcome:
    """Run ``target(*args)`` in a child process; poll, relay output, honour ``cancel``. See the module docstring."""
    context = _context()
    master = slave = None
    if context.get_start_method() == "fork" and hasattr(os, "openpty"):
        master, slave = os.openpty()
    process = context.Process(target=_child_main, args=(target, args, str(workdir), slave), daemon=True)
    process.start()
    if slave is not None:
        os.close(slave)
    try:
        while process.is_alive():
            if cancel.cancelled:
                process.terminate()
                process.join(KILL_AFTER_S)
                if process.is_alive():
                    process.kill()
                    process.join()
                on_output(_read_available(master))
                return ChildOutcome("cancelled", "cancelled by the user")
            on_output(_read_available(master))
            on_poll()
            process.join(poll_s)
        on_output(_read_available(master))
        on_poll()
    finally:
        if master is not None:
            os.close(master)
    if process.exitcode == 0:
        return ChildOutcome("completed")
    error_file = workdir / ERROR_FILE
    if error_file.exists():
        first = error_file.read_text(encoding="utf-8", errors="replace").splitlines()
        return ChildOutcome("failed", first[0][:300] if first else "the engine failed")
    return ChildOutcome("failed", f"the engine process ended with exit code {process.exitcode}")
