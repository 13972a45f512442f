"""Check that a frozen RegViewer executable works as the isolated registration engine (``--engine-child``).

The window starts its engine as ``[sys.executable, "--engine-child"]`` inside a bundle
(``regviewer.registration.isolated.child_argv``); this speaks the same protocol to the bundle's executable:
one pickled request in, progress frames and the result out. Runs with the project's Python (from the source tree).

usage: python packaging/check_engine_child.py PATH/TO/regviewer[.exe]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regviewer import paths  # noqa: E402
from regviewer.core.io import read_image  # noqa: E402
from regviewer.registration.base import Request  # noqa: E402
from regviewer.registration.isolated import _request_fields, read_frame, write_frame  # noqa: E402
from regviewer.registration.pipeline import Stage  # noqa: E402


def main(executable: str) -> int:
    fixed, moving = read_image(paths.SAMPLE_2D_FIXED), read_image(paths.SAMPLE_2D_MOVING)
    stages = (Stage("rigid", {"iterations": 30}), Stage("network", {"model": "brain2d"}))
    started = time.perf_counter()
    child = subprocess.Popen([executable, "--engine-child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    write_frame(child.stdin, (stages, _request_fields(Request(fixed, moving)), None, 0))
    kinds, result = [], None
    try:
        while True:
            kind, data = read_frame(child.stdout)
            kinds.append(kind)
            result = data if kind == "result" else result
            if kind == "done":
                break
    except EOFError:
        pass
    child.stdin.close()
    child.wait(timeout=60)
    elapsed = time.perf_counter() - started
    if result is None or result["status"] != "completed":
        print(f"engine child FAILED (exit {child.returncode}, frames {sorted(set(kinds))}): "
              f"{result and result.get('message')}", file=sys.stderr)
        return 1
    print(f"engine child ok: rigid + network (torch) ran in the bundle in {elapsed:.1f} s; "
          f"{kinds.count('steps')} progress frames, status {result['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
