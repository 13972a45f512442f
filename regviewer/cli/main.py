"""Argument parsing, error handling and dispatch for the ``regviewer`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from regviewer import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def _add_register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "register",
        help="register MOVING to FIXED and write the warped image, transform, field and metrics",
        description="Register MOVING to FIXED. Writes OUT/warped.<ext>, OUT/transform.tfm|.h5 (fixed -> moving, ITK), "
        "OUT/displacement.nii.gz, OUT/warped_labels.<ext> and OUT/metrics.json.",
    )
    parser.add_argument("fixed", help="fixed image (file, or a DICOM folder)")
    parser.add_argument("moving", help="moving image (file, or a DICOM folder)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--method", help="method or chain, e.g. affine or rigid,affine,bspline (default: the preset's, else affine)"
    )
    parser.add_argument("--preset", help="named preset (see 'regviewer presets') or a preset .json file")
    parser.add_argument(
        "--metric",
        help="metric for every stage that has one, in the method's own names: mse|ncc|mi|ants_ncc (ours), "
        "mattes|CC|meansquares (ants-*), ncc|mi|mse (elastix-*); 'regviewer presets' lists each method's",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter on every stage that has it, e.g. --param iterations=50 --param shrink_factors=4,2",
    )
    parser.add_argument("--fixed-mask", help="binary mask restricting the metric in the fixed image")
    parser.add_argument("--moving-mask", help="binary mask restricting the metric in the moving image")
    parser.add_argument("--fixed-labels", help="fixed label map (for Dice / HD95)")
    parser.add_argument("--moving-labels", help="moving label map (warped and scored)")
    for side in ("fixed", "moving"):
        parser.add_argument(
            f"--{side}-labels-channel",
            metavar="N|onehot",
            help=f"{side} label map with several channels (4D one-hot): read channel N, or 'onehot' for the "
            "integer map (channel k -> label k + 1, 0 where every channel is 0)",
        )
    parser.add_argument(
        "--labels",
        help="comma-separated label values to score, or a text file with one per line (default: all in the fixed labels)",
    )
    parser.add_argument(
        "--fixed-landmarks",
        help="fixed landmarks (csv LPS mm, Slicer .fcsv/.mrk.json, elastix, ANTs csv), "
        "or one pair file (our pair csv, BigWarp csv): TRE before / after in metrics.json",
    )
    parser.add_argument(
        "--moving-landmarks", help="moving landmarks, paired with the fixed ones by row (or --pair-landmarks-by label)"
    )
    parser.add_argument(
        "--pair-landmarks-by",
        choices=("order", "label"),
        default="order",
        help="pair the two landmark files by row order or by name",
    )
    parser.add_argument(
        "--init",
        help="initial fixed -> moving transform (ITK .tfm/.txt/.h5 or a displacement field image), "
        "or 'landmarks' (affine fit to the landmarks; also landmarks-rigid, landmarks-similarity)",
    )
    from regviewer.cli.channel import add_channel_argument

    add_channel_argument(parser, "register on")
    parser.add_argument(
        "--export-elastix",
        action="store_true",
        help="also write OUT/elastix/TransformParameters.txt for elastix's transformix (linear and B-spline results)",
    )


def _add_presets(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("presets", help="list the named presets and methods with their parameters")


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="register the bundled sample pair and print the metrics")
    parser.add_argument("-o", "--output", default=None, help="output folder (default: a temporary folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regviewer", description="RegViewer: medical image registration workbench.")
    parser.add_argument("--version", action="version", version=f"regviewer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_register(subparsers)
    _add_presets(subparsers)
    _add_demo(subparsers)
    from regviewer.cli.gui_commands import add_render_parser

    add_render_parser(subparsers)
    from regviewer.cli.train import add_train_parser

    add_train_parser(subparsers)
    from regviewer.cli.landmarks import add_landmarks_parser

    add_landmarks_parser(subparsers)
    from regviewer.cli.groupwise import add_groupwise_parser

    add_groupwise_parser(subparsers)
    from regviewer.cli.session import add_session_parser

    add_session_parser(subparsers)
    return parser


COMMANDS = ("register", "presets", "demo", "render", "train", "landmarks", "groupwise", "session")


def _is_command_line(argv: list[str]) -> bool:
    """True when the first word that is not an option names a command (else the window opens)."""
    words = [word for word in argv if not word.startswith("-")]
    return bool(words) and words[0] in COMMANDS


@contextmanager
def _notices_on_stderr() -> Iterator[None]:
    """Print RegViewer's notices (e.g. "colour image: shown in colour, registered on the luminance") as
    "note: ..." lines while a command runs."""
    logger = logging.getLogger("regviewer")
    saved = logger.handlers[:], logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``regviewer`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [word for word in argv if word != "--debug"]  # accepted anywhere, also after the command
    if _is_command_line(argv):
        parser = build_parser()
    else:
        from regviewer.cli.gui_commands import build_gui_parser

        parser = build_gui_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        args.command = "gui"
    with _notices_on_stderr():
        return _dispatch(parser, args, debug)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, debug: bool) -> int:
    from regviewer.core.errors import RegViewerError

    try:
        if args.command == "register":
            from regviewer.cli.register import run_register

            return run_register(args)
        if args.command == "presets":
            from regviewer.cli.register import print_presets

            return print_presets()
        if args.command == "demo":
            from regviewer.cli.register import run_demo

            return run_demo(args)
        if args.command == "render":
            from regviewer.cli.gui_commands import run_render

            return run_render(args)
        if args.command == "train":
            from regviewer.cli.train import run_train

            return run_train(args)
        if args.command == "landmarks":
            from regviewer.cli.landmarks import run_landmarks

            return run_landmarks(args)
        if args.command == "groupwise":
            from regviewer.cli.groupwise import run_groupwise

            return run_groupwise(args)
        if args.command == "session":
            from regviewer.cli.session import run_session

            return run_session(args)
        if args.command == "gui":
            from regviewer.cli.gui_commands import run_gui_command

            return run_gui_command(args)
    except RegViewerError as error:
        if debug:
            traceback.print_exc()
        print(f"regviewer: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("regviewer: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except MemoryError:
        print(
            "regviewer: error: out of memory (try a smaller image, fewer levels or a lower sampling percentage)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    except Exception as error:  # a bug: say so in one line, full traceback only with --debug
        if debug:
            traceback.print_exc()
        print(
            f"regviewer: internal error: {type(error).__name__}: {error} (run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
