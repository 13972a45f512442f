"""Follow elastix's log file as it is written: resolution levels, iterations and metric values.

elastix writes ``Resolution: N`` when a level starts, then a tab-separated table whose header starts
with ``1:ItNr`` and whose rows start with the iteration number and the metric value (lower is better,
elastix minimises). ``LogFollower.poll()`` reads what was appended since the last call (a partial last
line waits for the next poll) and returns the new (level, iteration, metric) rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_RESOLUTION = re.compile(r"^Resolution:\s*(\d+)")
_ROW = re.compile(r"^(\d+)\t(\S+)")


@dataclass
class LogFollower:
    """Incremental reader of one elastix log file."""

    path: Path
    level: int = -1
    offset: int = 0
    in_table: bool = False
    pending: str = ""
    rows: list[tuple[int, int, float]] = field(default_factory=list)

    def poll(self) -> list[tuple[int, int, float]]:
        """New (level, iteration, metric) rows since the last call."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:  # not created yet
            return []
        self.offset += len(data)
        text = self.pending + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self.pending = lines.pop()  # an unfinished last line
        new: list[tuple[int, int, float]] = []
        for line in lines:
            line = line.rstrip("\r")
            resolution = _RESOLUTION.match(line)
            if resolution:
                self.level, self.in_table = int(resolution.group(1)), False
                continue
            if line.startswith("1:ItNr"):
                self.in_table = True
                continue
            row = _ROW.match(line) if self.in_table else None
            if row:
                try:
                    new.append((max(self.level, 0), int(row.group(1)), float(row.group(2))))
                except ValueError:
                    continue
            elif self.in_table and line.strip() and not line[0].isdigit():
                self.in_table = False
        self.rows.extend(new)
        return new
