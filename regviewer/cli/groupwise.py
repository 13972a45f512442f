"""``regviewer groupwise IMAGE... -o OUT [--method elastix-groupwise|template]``: a series into its mean space.

OUT/image_NN/transform.h5      mean space -> image NN (fixed -> moving, ITK; .tfm when linear)
OUT/image_NN/warped.<ext>      image NN resampled into the mean space (the first image's grid)
OUT/mean.nii.gz                the mean of the warped images
OUT/figures/image_NN.png       image NN before | after | mean (the middle slice of 3D images)
OUT/groupwise.json             method, status, runtime, the images and files, the direction of the transforms
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from regviewer.core.image import Image
from regviewer.core.io import default_extension, read_image, write_image
from regviewer.core.io.atomic import atomic_path, write_text_atomic
from regviewer.core.io.transforms_io import write_transform
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image


def add_groupwise_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "groupwise",
        help="register a series of images groupwise into their mean space",
        description="Register IMAGE... groupwise (2D or 3D, at least two) and write each image's transform (mean space -> image), "
        "its warped image, the mean image and per-image figures into OUT.",
    )
    parser.add_argument(
        "images", nargs="+", help="the images of the series (the first one's grid is the mean space's grid)"
    )
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--method",
        choices=("elastix-groupwise", "template"),
        default="elastix-groupwise",
        help="elastix-groupwise: elastix's variance-over-the-series B-spline (needs itk-elastix); "
        "template: each image registered to the running mean with --preset",
    )
    parser.add_argument("--iterations", type=int, default=250, help="elastix iterations per resolution")
    parser.add_argument("--grid-spacing", type=float, default=16.0, help="elastix final B-spline grid spacing, mm")
    parser.add_argument("--resolutions", type=int, default=3, help="elastix resolution levels")
    parser.add_argument("--preset", default="deformable", help="pairwise preset of --method template")
    parser.add_argument("--rounds", type=int, default=2, help="mean updates of --method template")


def _figure(before: Image, after: Image, mean: Image, path: Path) -> None:
    """before | after | mean side by side, one grey PNG (the middle slice of 3D images)."""
    from skimage.io import imsave

    reference = mean.geometry
    panels = [resample_image(before, reference, None, "linear").array, after.array, mean.array]
    panels = [np.asarray(p, dtype=np.float64) for p in panels]
    if panels[0].ndim == 3:
        panels = [p[p.shape[0] // 2] for p in panels]
    low, high = np.percentile(np.concatenate([p.ravel() for p in panels]), [0.5, 99.5])
    scaled = [np.clip((p - low) / max(high - low, 1e-12), 0, 1) for p in panels]
    gap = np.ones((scaled[0].shape[0], 4))
    picture = (np.hstack([scaled[0], gap, scaled[1], gap, scaled[2]]) * 255).astype(np.uint8)
    with atomic_path(path) as temporary:
        imsave(temporary, picture, check_contrast=False)


def run_groupwise(args: argparse.Namespace) -> int:
    from regviewer.registration.groupwise import elastix_groupwise, template_groupwise

    images = [read_image(path) for path in args.images]
    out = Path(args.output)
    token = CancelToken()
    try:
        if args.method == "elastix-groupwise":
            result = elastix_groupwise(images, args.iterations, args.grid_spacing, args.resolutions, cancel=token)
        else:
            result = template_groupwise(images, args.preset, args.rounds, cancel=token)
    except KeyboardInterrupt:
        token.cancel()
        raise
    entries = []
    for number, (path, image, transform, warped) in enumerate(
        zip(args.images, images, result.transforms, result.warped)
    ):
        folder = out / f"image_{number:02d}"
        transform_file = write_transform(
            transform, folder / ("transform.tfm" if transform.is_linear else "transform.h5")
        )
        warped_file = write_image(warped, folder / f"warped{default_extension(path)}")
        figure = out / "figures" / f"image_{number:02d}.png"
        _figure(image, warped, result.mean, figure)
        entries.append(
            {
                "image": str(path),
                "transform": str(transform_file.relative_to(out)),
                "warped": str(warped_file.relative_to(out)),
                "figure": str(figure.relative_to(out)),
            }
        )
    write_image(result.mean, out / "mean.nii.gz")
    document = {
        "method": result.method,
        "status": result.status,
        "runtime_s": round(result.runtime_s, 3),
        "direction": "each transform maps mean-space points (LPS mm) to that image's points (fixed -> moving)",
        "mean": "mean.nii.gz",
        "images": entries,
    }
    write_text_atomic(out / "groupwise.json", json.dumps(document, indent=1))
    print(f"groupwise ({result.method}): {result.status} in {result.runtime_s:.1f} s, {len(images)} images -> {out}")
    if result.status != "completed":
        print(f"warning: {result.status}: the transforms are identities", file=sys.stderr)
        return 130
    return 0
