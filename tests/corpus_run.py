"""Run the bad-input corpus (tests/corpus.py) in this process and classify each outcome (see corpus.py)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Case, all_cases  # noqa: E402

_RELEASER = """
import os, sys, time
time.sleep(float(sys.argv[1]))
for _ in range(120):
    for fifo in sys.argv[2:]:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    time.sleep(0.5)
"""


@dataclass
class Outcome:
    name: str
    group: str
    status: str
    code: int | None
    message: str
    extra: dict = field(default_factory=dict)


# ---- running -----------------------------------------------------------------------------------
def _hashes(folder: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o170000 == 0o100000:
            hashes[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def classify(
    code: int | None,
    stderr: str,
    expect: str,
    changed: list[str],
    escaped: str = "",
    traceback_expected: bool = False,
    reason: str = "",
) -> str:
    if traceback_expected and "Traceback" in stderr:
        stderr = stderr[stderr.rindex("regviewer: error:") :] if "regviewer: error:" in stderr else ""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("note:", "warning:"))]
    if escaped or code == 1 or "Traceback" in stderr or changed:
        return "crash"
    if code == 0:
        return "wrong success"
    if (
        len(lines) == 1
        and lines[0].startswith("regviewer: error:")
        and expect in lines[0]
        and (not reason or re.search(reason, lines[0], re.IGNORECASE))
    ):
        return "clear"
    return "unclear"


def run_case(case: Case, root: Path, timeout_s: int = int(os.environ.get("CORPUS_TIMEOUT_S", "60"))) -> Outcome:
    """Build ``case`` under ``root / case.name`` and run it through ``main(argv)`` in this process."""
    from regviewer.cli.main import main

    folder = root / case.name
    folder.mkdir(parents=True, exist_ok=True)
    argv, expect = case.build(folder)
    before = _hashes(folder)
    stderr, stdout = io.StringIO(), io.StringIO()
    code, escaped = None, ""

    fifos = [str(p) for p in folder.rglob("*") if p.is_fifo()]
    # A reader stuck on a FIFO (possibly inside C++ holding the interpreter lock) is released from
    # another process, which opens and closes the FIFO's writing end after the timeout.
    releaser = subprocess.Popen([sys.executable, "-c", _RELEASER, str(timeout_s), *fifos]) if fifos else None
    started = time.monotonic()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException as error:  # noqa: BLE001 (the corpus records escaping exceptions as crashes)
            escaped = f"{type(error).__name__}: {error}"
    blocked = time.monotonic() - started > timeout_s
    if releaser is not None:
        releaser.kill()
        releaser.wait()
    if blocked:
        escaped = escaped or f"blocked: still running after {timeout_s} s"
    after = _hashes(folder)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    text = stderr.getvalue()
    status = classify(code, text, expect, changed, escaped, case.traceback_expected, case.reason)
    message = escaped or (f"inputs changed: {changed}; " if changed else "") + " | ".join(
        text.strip().splitlines()[-3:]
    )
    return Outcome(case.name, case.group, status, code, message[:400], {"argv": argv, "expect": expect})


def run_corpus(root: Path, names: list[str] | None = None) -> list[Outcome]:
    import logging

    logging.getLogger("regviewer").handlers.clear()
    outcomes = []
    for case in all_cases():
        if names and case.name not in names:
            continue
        outcomes.append(run_case(case, root))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    statuses = ("clear", "unclear", "wrong success", "crash")
    groups = sorted({o.group for o in outcomes})
    lines = [f"{'group':<12}" + "".join(f"{s:>15}" for s in statuses) + f"{'total':>8}"]
    for group in [*groups, "all"]:
        chosen = [o for o in outcomes if group in ("all", o.group)]
        lines.append(
            f"{group:<12}"
            + "".join(f"{sum(o.status == s for o in chosen):>15}" for s in statuses)
            + f"{len(chosen):>8}"
        )
    return "\n".join(lines)


def window_item(case: Case, argv: list[str]) -> str:
    """The bad file of a window case: the image in its role, or the transform."""
    if case.role == "transform":
        flag = "--init" if "--init" in argv else "--transform"
        return argv[argv.index(flag) + 1]
    return argv[1] if case.role == "fixed" else argv[2]


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MB.

    On Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` of a child carries its parent's peak from before the exec (the
    kernel folds the replaced address space's high-water mark into it), so a corpus run started by a 2 GB pytest
    process reported 2 GB. ``VmHWM`` in /proc/self/status belongs to this address space only.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    """``corpus_run.py ROOT [--json FILE] [CASE ...]``: run the corpus, print the table (and write JSON)."""
    import json
    import tempfile

    json_path = None
    if "--json" in argv:
        at = argv.index("--json")
        json_path, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    target = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="regviewer-corpus-"))
    results = run_corpus(target, argv[1:] or None)
    for outcome in results:
        if outcome.status != "clear":
            print(f"{outcome.status:<14} {outcome.name:<32} [{outcome.code}] {outcome.message}")
    print(table(results))
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    if json_path:
        document = {
            "peak_rss_mb": peak_rss_mb(),
            "outcomes": [
                {"name": o.name, "group": o.group, "status": o.status, "code": o.code, "message": o.message}
                for o in results
            ],
        }
        Path(json_path).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
