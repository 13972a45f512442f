"""``regviewer session export`` and ``regviewer session show``: a session's runs from the command line.

``export`` writes one run in the layout of ``regviewer register -o OUT`` (see app/export.py), so a
result kept in the window and one computed by a script are used the same way.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_session_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "session",
        help="session files: list the runs, export a run's results",
        description="Session files saved by the window (NAME.regviewer folder or .zip).",
    )
    commands = parser.add_subparsers(dest="session_command", metavar="ACTION", required=True)
    export = commands.add_parser(
        "export",
        help="write a run's results in the layout of 'regviewer register -o OUT'",
        description="Write run N of SESSION (default: the current run, else the last finished one) as OUT/warped.<ext>, "
        "OUT/transform.tfm|.h5 (fixed -> moving), OUT/transform_inverse_moving_to_fixed.tfm|.h5, "
        "OUT/displacement.nii.gz, OUT/jacobian.nii.gz, OUT/warped_labels.<ext>, OUT/metrics.json and OUT/report.html.",
    )
    export.add_argument("session", metavar="SESSION", help="session (.regviewer folder or .zip)")
    export.add_argument("--run", type=int, metavar="N", help="run number as shown in the history (#N)")
    export.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    show = commands.add_parser("show", help="list the images, landmarks and runs of a session")
    show.add_argument("session", metavar="SESSION", help="session (.regviewer folder or .zip)")


def run_session(args: argparse.Namespace) -> int:
    from regviewer.app.session_io import open_session

    opened = open_session(args.session)
    if args.session_command == "show":
        return _show(opened)
    from pathlib import Path

    from regviewer.app.export import export_run

    for problem in opened.problems:
        print(f"regviewer: warning: {problem.message}", file=sys.stderr)
    result = export_run(
        opened.session,
        args.output,
        args.run,
        protect=[Path(opened.path)],
        progress=lambda line: print(f"regviewer: {line}", file=sys.stderr),
    )
    print(f"wrote {len(result.files)} files to {result.folder}")
    for warning in result.document.get("warnings", []):
        print(f"warning: {warning}")
    return 0


def _show(opened) -> int:
    session = opened.session
    print(
        f"session {opened.path} ({session.saved_by}, saved {time.strftime('%Y-%m-%d %H:%M', time.localtime(session.saved_at or 0))})"
    )
    for role, ref in session.images.items():
        print(f"  {role:<14} {ref.path}")
    for problem in opened.problems:
        print(f"  warning: {problem.message}")
    print(f"  landmarks: {len(session.landmarks)} pairs ({sum(pair.active for pair in session.landmarks)} active)")
    for entry in session.runs:
        mark = "*" if entry.run_id == session.current_run else " "
        print(
            f" {mark}#{entry.run_id:<3} {entry.title:<32} {entry.status:<10} {entry.runtime_s:7.1f} s  {entry.message[:60]}"
        )
    return 0
