"""Check that a frozen RegViewer executable works as the isolated registration engine (``--engine-child``).

The window starts its engine as ``[sys.executable, "--engine-child"]`` inside a bundle
(``regviewer.registration.isolated.child_argv``); this speaks the same protocol to the bundle's executable:
one pickled request in, progress frames and the result out. Runs with the project's Python (from the source tree).

usage: python packaging/check_engine_child.py PATH/TO/regviewer[.exe]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regviewer import paths  # noqa: E402
from regviewer.core.io import read_image  # noqa: E402
from regviewer.core.progress import CancelToken  # noqa: E402
from regviewer.registration import isolated  # noqa: E402
from regviewer.registration.base import Request  # noqa: E402
from regviewer.registration.pipeline import Stage  # noqa: E402


def main(executable: str) -> int:
    fixed, moving = read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)
    stages = (Stage("rigid", {"iterations": 30}), Stage("network", {"model": "brain2d"}))
    started = time.perf_counter()
    isolated.child_argv = lambda: [executable, "--engine-child"]  # what child_argv() gives inside that bundle
    steps: list = []
    runner = isolated.IsolatedRun(stages, Request(fixed, moving))
    result = runner.run(CancelToken(), steps.extend, lambda transform: None, lambda result: None, lambda figures: None)
    elapsed = time.perf_counter() - started
    if result is None or result.status != "completed":
        print(f"engine child FAILED: {result and result.message}", file=sys.stderr)
        return 1
    print(
        f"engine child ok: rigid + network (torch) ran in the bundle in {elapsed:.1f} s; "
        f"{len(steps)} progress steps, status {result.status}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
