"""``regviewer landmarks convert`` and the landmark options of ``regviewer register``.

Conversion reads any landmark format RegViewer knows (see core/io/landmark_formats.py) and writes
another, always through LPS mm. A pair file (our pair CSV, BigWarp, transformix output) written to
a one-list format needs ``--side``; two point lists become a pair file with ``--moving``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from regviewer.core.errors import InputMismatchError
from regviewer.core.image import Image
from regviewer.core.io.landmark_formats import (
    FORMATS,
    PAIR_FORMATS,
    PointSet,
    format_of,
    load_pairs,
    read_landmark_file,
    write_pairs,
    write_point_set,
)
from regviewer.core.landmark_fit import fit
from regviewer.core.transforms import Transform

INIT_FITS = {
    "landmarks": "affine",
    "landmarks-rigid": "rigid",
    "landmarks-similarity": "similarity",
    "landmarks-affine": "affine",
}


def add_landmarks_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "landmarks",
        help="landmark files: convert between formats",
        description="Landmark files (all converted through LPS mm).",
    )
    commands = parser.add_subparsers(dest="landmarks_command", metavar="ACTION", required=True)
    convert = commands.add_parser(
        "convert",
        help="convert a landmark file to another format",
        description="Convert IN to OUT. Formats: csv (ours, LPS), fcsv and mrk.json (3D Slicer, written as LPS), bigwarp "
        "(pairs), elastix (point file), ants (antsApplyTransformsToPoints CSV, LPS). IN may also be a "
        "transformix outputpoints.txt.",
    )
    convert.add_argument("input", metavar="IN", help="landmark file (fixed points, or pairs)")
    convert.add_argument("output", metavar="OUT", help="file to write")
    convert.add_argument("--to", choices=FORMATS, help="output format (default: from OUT's extension; .csv = ours)")
    convert.add_argument(
        "--moving", metavar="IN2", help="moving points: pair them with IN's points (for csv / bigwarp pairs)"
    )
    convert.add_argument(
        "--pair-by", choices=("order", "label"), default="order", help="how --moving pairs with IN (default: order)"
    )
    convert.add_argument(
        "--side",
        choices=("fixed", "moving"),
        help="which points of a pair file to write to a one-list format (transformix output: moving)",
    )
    convert.add_argument("--image", help="image whose grid converts elastix 'index' points to mm")


def run_landmarks(args: argparse.Namespace) -> int:
    geometry = None
    if args.image:
        from regviewer.core.io import read_image

        geometry = read_image(args.image).geometry
    kind = format_of(args.output, args.to)
    if args.moving:
        content = load_pairs(args.input, args.moving, None, args.pair_by, geometry, geometry)
    else:
        content = read_landmark_file(args.input, geometry)
    if isinstance(content, PointSet):
        if kind in PAIR_FORMATS and kind != "csv":
            raise InputMismatchError(f"{args.input} holds one list of points; {kind} needs pairs: add --moving IN2")
        written = write_point_set(args.output, content, kind)
        count = len(content.names)
    elif kind in PAIR_FORMATS and args.side is None:
        ndim = _pairs_ndim(content)
        written = write_pairs(args.output, content, ndim, kind)
        count = len(content)
    else:
        side = args.side or ("moving" if _is_transformix(args.input) else None)
        if side is None:
            raise InputMismatchError(
                f"{args.input} holds pairs and {kind} one list of points: choose --side fixed or --side moving"
            )
        missing = [pair.name for pair in content if pair.point(side) is None]
        if missing:
            raise InputMismatchError(
                f"{args.input}: {len(missing)} pair(s) have no {side} point ({', '.join(missing[:5])})"
            )
        points = PointSet(
            [p.name for p in content], np.array([p.point(side) for p in content]), [p.active for p in content]
        )
        written = write_point_set(args.output, points, kind)
        count = len(content)
    print(f"wrote {count} landmark{'s' if count != 1 else ''} to {written} ({kind}, LPS mm)")
    return 0


def _pairs_ndim(pairs) -> int:
    for pair in pairs:
        for point in (pair.fixed, pair.moving):
            if point is not None:
                return len(point)
    return 3


def _is_transformix(path: str) -> bool:
    from regviewer.core.io.landmark_formats import detect_format

    return detect_format(path) == "outputpoints"


def register_landmarks(
    args: argparse.Namespace, fixed: Image, moving: Image
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The complete active pairs of ``--fixed-landmarks`` / ``--moving-landmarks`` (any format), as arrays."""
    fixed_path, moving_path = args.fixed_landmarks, args.moving_landmarks
    if not fixed_path and not moving_path:
        return None, None
    if not fixed_path:
        raise InputMismatchError(
            "give both --fixed-landmarks and --moving-landmarks, or neither (or one pair file as --fixed-landmarks)"
        )
    if not moving_path and isinstance(read_landmark_file(fixed_path, fixed.geometry), PointSet):
        raise InputMismatchError(
            f"{fixed_path} holds one list of points: give both --fixed-landmarks and --moving-landmarks"
        )
    pairs = load_pairs(
        fixed_path,
        moving_path,
        fixed.ndim,
        getattr(args, "pair_landmarks_by", None) or "order",
        fixed.geometry,
        moving.geometry,
    )
    used = [pair for pair in pairs if pair.active and pair.complete]
    if not used:
        raise InputMismatchError(
            f"no complete active landmark pair in {fixed_path}{' / ' + moving_path if moving_path else ''}"
        )
    return np.array([p.fixed for p in used]), np.array([p.moving for p in used])


def initial_from_landmarks(spec: str, fixed_points: np.ndarray | None, moving_points: np.ndarray | None) -> Transform:
    """``--init landmarks[-rigid|-similarity|-affine]``: the landmark fit that starts the registration."""
    if fixed_points is None:
        raise InputMismatchError(f"--init {spec} needs --fixed-landmarks and --moving-landmarks")
    return fit(INIT_FITS[spec], fixed_points, moving_points)


def is_landmark_init(spec: str | None) -> bool:
    return spec in INIT_FITS and not Path(spec).exists()
