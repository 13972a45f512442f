"""Ctrl-C and ``kill`` in the command line: the first one cancels the work cleanly, a second one aborts."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from regviewer.core.progress import CancelToken


@contextmanager
def cancel_on_signals(token: CancelToken, message: str) -> Iterator[None]:
    """While inside, SIGINT (Ctrl-C) and SIGTERM (``kill``) cancel ``token`` and print ``message``; a second
    signal raises KeyboardInterrupt.

    Set explicitly for both because a job that a script starts in the background inherits SIGINT
    ignored, and SIGTERM would otherwise end the process before it writes what it has.
    """
    numbers = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])

    def handler(signum, frame):  # noqa: ARG001
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print(f"\nregviewer: {message}", file=sys.stderr)

    previous = {}
    try:
        for number in numbers:
            previous[number] = signal.signal(number, handler)
    except ValueError:  # not the main thread: leave the signals alone
        pass
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)
