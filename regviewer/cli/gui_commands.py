"""The commands that need Qt: opening the window (``regviewer [FIXED MOVING]``) and ``regviewer render``.

Qt is imported only when one of them runs, so ``regviewer register`` and friends start light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from regviewer.core.compose import MODES

GUI_EPILOG = (
    "commands (run 'regviewer COMMAND --help'):\n"
    "  register   register MOVING to FIXED and write the results (headless)\n"
    "  render     draw the view grid of a pair into a PNG figure (headless)\n"
    "  presets    list the named presets and methods\n"
    "  demo       register the bundled sample pair on the command line\n"
    "  train      train a VoxelMorph-style network from a config\n"
    "  session    list a session's runs, or export one run's results (headless)\n"
)


def build_gui_parser() -> argparse.ArgumentParser:
    """Options of ``regviewer`` when it opens the main window."""
    parser = argparse.ArgumentParser(
        prog="regviewer",
        description="RegViewer: medical image registration workbench. With no command it opens the main window.",
        epilog=GUI_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from regviewer import __version__

    parser.add_argument("--version", action="version", version=f"regviewer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument(
        "--info",
        action="store_true",
        help="print versions, Qt platform, OpenGL and GPU availability (for bug reports) and exit",
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="open the bundled demo (or --demo 2d), paint the window once and exit: 0 when it showed "
        "the images, 1 with the reason otherwise (checks an installation; works with QT_QPA_PLATFORM=offscreen)",
    )
    parser.add_argument(
        "--demo",
        nargs="?",
        const="3d",
        choices=("2d", "3d"),
        help="open the bundled sample pair (3d: brain with labels, the default; 2d: brain slices)",
    )
    parser.add_argument(
        "fixed",
        nargs="?",
        help="fixed image (file or DICOM folder), or a session (NAME.regviewer folder or .zip) to open",
    )
    parser.add_argument("moving", nargs="?", help="moving image (file or DICOM folder)")
    parser.add_argument("--fixed-labels", help="fixed label map")
    parser.add_argument("--moving-labels", help="moving label map")
    parser.add_argument(
        "--fixed-labels-channel",
        metavar="N|onehot",
        help="fixed label map with several channels: channel N or 'onehot'",
    )
    parser.add_argument(
        "--moving-labels-channel",
        metavar="N|onehot",
        help="moving label map with several channels: channel N or 'onehot'",
    )
    parser.add_argument("--transform", help="fixed -> moving transform to show (ITK .tfm/.txt/.h5 or a field image)")
    parser.add_argument("--layout", choices=("2x2", "1x3", "1x1"), help="view layout")
    from regviewer.cli.channel import add_channel_argument

    add_channel_argument(parser, "register on (the Register on box starts with it)")
    return parser


def run_gui_command(args: argparse.Namespace) -> int:
    if args.info:
        from regviewer.cli.info import run_info

        return run_info()
    if args.smoke_test:
        from regviewer.gui.smoke_test import run_smoke_test

        return run_smoke_test(args.demo or "3d")
    from regviewer.cli.channel import parse_colour_channel
    from regviewer.cli.info import collect_info, format_info
    from regviewer.gui.app import run_gui

    channel = parse_colour_channel(args.channel)  # a wrong value: one line before the window opens

    if args.fixed and not args.moving:
        from regviewer.app.session_io import looks_like_session

        if looks_like_session(args.fixed):
            return run_gui(session=args.fixed, layout=args.layout, system_info=lambda: format_info(collect_info()))
    from regviewer.core.io.label_channels import LabelFile, parse_label_channel

    def labels(path, channel):
        return LabelFile(path, parse_label_channel(channel)) if path and channel is not None else path

    return run_gui(
        fixed=args.fixed,
        moving=args.moving,
        fixed_labels=labels(args.fixed_labels, args.fixed_labels_channel),
        moving_labels=labels(args.moving_labels, args.moving_labels_channel),
        transform=args.transform,
        demo=args.demo,
        layout=args.layout,
        system_info=lambda: format_info(collect_info()),
        channel=channel,
    )


def add_render_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="draw the view grid of a pair into a PNG figure without opening a window",
        description="Draw the linked views (fixed, moving, warped, comparison) of a pair into a PNG, exactly as "
        "the main window shows them, and exit.",
    )
    parser.add_argument("fixed", help="fixed image")
    parser.add_argument("moving", help="moving image")
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.add_argument("--transform", help="fixed -> moving transform (default: identity)")
    parser.add_argument(
        "--labels", nargs="+", metavar="LABELS", help="fixed label map, optionally followed by the moving one"
    )
    for side in ("fixed", "moving"):
        parser.add_argument(
            f"--{side}-labels-channel",
            metavar="N|onehot",
            help=f"{side} label map with several channels (4D one-hot): channel N, or 'onehot' for the integer map",
        )
    parser.add_argument("--layout", default="2x2", choices=("2x2", "1x3", "1x1"), help="view layout (default 2x2)")
    parser.add_argument("--mode", choices=MODES, help="mode of the last view (default: checkerboard in 2x2)")
    parser.add_argument(
        "--plane", default="axial", choices=("axial", "coronal", "sagittal"), help="plane (default axial)"
    )
    parser.add_argument(
        "--slice-mm", type=float, help="LPS position of the slice along the plane's axis (default: centre)"
    )
    parser.add_argument("--size", default="1600x1200", help="figure size in pixels, WIDTHxHEIGHT (default 1600x1200)")
    from regviewer.cli.channel import add_channel_argument

    add_channel_argument(parser, "show in the difference mode (the other modes show colour)")
    parser.add_argument(
        "--overlay",
        metavar="LIST",
        help="overlays to draw, comma-separated: grid, jacobian, magnitude, arrows, labels (contours, "
        "instead of filled labels), agreement (TP/FP/FN of fixed vs warped labels)",
    )


def run_render(args: argparse.Namespace) -> int:
    from regviewer.cli.channel import parse_colour_channel
    from regviewer.core.colour import registration_channel
    from regviewer.core.errors import InputMismatchError
    from regviewer.core.io import read_image
    from regviewer.core.io.atomic import atomic_path
    from regviewer.core.io.output_guard import check_output_file, check_outputs_are_not_inputs
    from regviewer.core.io.transforms_io import read_transform
    from regviewer.gui.overlays import parse_overlay_names
    from regviewer.gui.render import parse_size, render_figure

    channel = parse_colour_channel(args.channel)
    size = parse_size(args.size)
    overlays = parse_overlay_names(args.overlay)
    labels = args.labels or []
    if len(labels) > 2:
        raise InputMismatchError("--labels takes the fixed label map and optionally the moving one")
    output = Path(args.output)
    if output.suffix.lower() != ".png":
        raise InputMismatchError(f"--output must be a .png file, got {output.name}")
    inputs = [args.fixed, args.moving, *labels, args.transform]
    check_outputs_are_not_inputs([output], inputs)
    check_output_file(output)
    fixed, moving = read_image(args.fixed), read_image(args.moving)
    fixed, moving = registration_channel(fixed, channel), registration_channel(moving, channel)
    if fixed.ndim != moving.ndim:
        raise InputMismatchError(
            f"{args.moving}: the moving image is {moving.ndim}D but the fixed image {args.fixed} is {fixed.ndim}D"
        )
    from regviewer.core.io.label_channels import parse_label_channel, read_label_map

    channels = [parse_label_channel(getattr(args, f"{side}_labels_channel", None)) for side in ("fixed", "moving")]
    fixed_labels = read_label_map(labels[0], channels[0]) if labels else None
    moving_labels = read_label_map(labels[1], channels[1]) if len(labels) == 2 else None
    for path, image in zip(labels, (fixed_labels, moving_labels)):
        if image is not None and image.ndim != fixed.ndim:
            raise InputMismatchError(f"{path}: the label map is {image.ndim}D but the images are {fixed.ndim}D")
    transform = read_transform(Path(args.transform)) if args.transform else None
    if transform is not None and transform.ndim != fixed.ndim:
        raise InputMismatchError(f"{args.transform}: a {transform.ndim}D transform for {fixed.ndim}D images")
    with atomic_path(output) as temporary:
        render_figure(
            fixed,
            moving,
            temporary,
            transform,
            fixed_labels,
            moving_labels,
            args.layout,
            args.mode,
            args.plane,
            args.slice_mm,
            size,
            overlays,
        )
    written = output
    print(f"wrote {written}")
    return 0
