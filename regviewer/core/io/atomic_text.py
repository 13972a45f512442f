"""A text handle whose file appears complete under its final name, or not at all (see ``atomic.py``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO

from regviewer.core.io.atomic import atomic_path


@contextlib.contextmanager
def open_text_atomic(path: str | os.PathLike[str], newline: str | None = "") -> Iterator[IO[str]]:
    """``open(path, "w")`` for UTF-8 text, written to a temporary sibling and renamed when the block ends."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline=newline, encoding="utf-8") as handle:
            yield handle
