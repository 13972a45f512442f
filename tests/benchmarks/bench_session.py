"""Session benchmark: save / open time and size, for the 3D sample and a ~7 M-voxel pair with 5 runs.

Rows: first save (folder bundle, zip bundle), a quick save of the folder after a landmark edit (only
session.json is rewritten), open (the document: images hashed and checked, transforms not read),
open + every run's transform read, and the bundle size. The peer, measured in the same run, is
reading the fixed and moving images with ``read_image``, which opening a session in the window
costs anyway: the ratio column says what the session adds on top of that.

- sample: resources/sample_data/brain3d (96 x 112 x 80), one run (its affine + B-spline truth).
- 7M: a synthetic 192^3 float32 pair (7.1 M voxels, .nii.gz) with 5 runs: rigid, affine,
  affine + B-spline, and two dense displacement fields on the fixed grid (as demons / torch give).

usage: python tests/benchmarks/bench_session.py [--skip-large]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from regviewer.paths import SAMPLE_DATA  # noqa: E402 (after the path insert)

SAMPLE = SAMPLE_DATA / "brain3d"


def _size(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    )


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _sample_session(folder: Path):
    from regviewer.app.session_document import LandmarkPair, RunEntry, Session
    from regviewer.app.session_images import image_ref
    from regviewer.core.io.transforms_io import read_transform

    for name in ("fixed.nii.gz", "moving.nii.gz", "fixed_labels.nii.gz", "moving_labels.nii.gz"):
        shutil.copy(SAMPLE / name, folder / name)
    truth = read_transform(SAMPLE / "fixed_to_moving.tfm")
    return Session(
        images={
            role: image_ref(folder / f"{role}.nii.gz") for role in ("fixed", "moving", "fixed_labels", "moving_labels")
        },
        landmarks=[LandmarkPair(f"L{i}", (float(i), 0.0, 0.0), (float(i), 1.0, 0.0)) for i in range(20)],
        runs=[RunEntry(1, "affine -> bspline", "completed", {"method": "affine,bspline"}, transform=truth)],
        current_transform=truth,
    )


def _large_session(folder: Path):
    import SimpleITK as sitk

    from regviewer.app.session_document import LandmarkPair, RunEntry, Session
    from regviewer.app.session_images import image_ref
    from regviewer.core.image import Geometry, Image
    from regviewer.core.io import write_image
    from regviewer.core.transforms import (
        AffineTransform,
        BSplineTransform,
        CompositeTransform,
        DisplacementFieldTransform,
    )

    rng = np.random.default_rng(0)
    geometry = Geometry((192, 192, 192), (1.0, 1.0, 1.0), (-96.0, -96.0, -96.0))
    for name in ("fixed", "moving"):
        array = rng.normal(100, 20, geometry.shape).astype(np.float32)
        write_image(Image(array, geometry, name=name), folder / f"{name}.nii.gz")
    rigid = AffineTransform(np.eye(3), np.array([2.0, -1.0, 0.5]))
    affine = AffineTransform(np.diag([1.02, 0.98, 1.01]), np.array([1.0, 2.0, -1.0]))
    bspline_sitk = sitk.BSplineTransformInitializer(geometry.empty_sitk(), [8, 8, 8])
    bspline_sitk.SetParameters(rng.normal(0, 1, bspline_sitk.GetNumberOfParameters()).tolist())
    fields = [DisplacementFieldTransform(rng.normal(0, 0.5, geometry.shape + (3,)), geometry) for _ in range(2)]
    transforms = [
        rigid,
        affine,
        CompositeTransform([BSplineTransform(bspline_sitk), affine]),
        CompositeTransform([fields[0], affine]),
        CompositeTransform([fields[1], affine]),
    ]
    titles = ["rigid", "affine", "affine -> bspline", "affine -> demons", "affine -> torch"]
    return Session(
        images={role: image_ref(folder / f"{role}.nii.gz") for role in ("fixed", "moving")},
        landmarks=[LandmarkPair(f"L{i}", (float(i), 0.0, 0.0), (float(i), 1.0, 0.0)) for i in range(20)],
        runs=[
            RunEntry(i + 1, title, "completed", {"method": title}, transform=t)
            for i, (title, t) in enumerate(zip(titles, transforms))
        ],
        current_transform=transforms[-1],
    )


def measure(label: str, build) -> list[tuple[str, str, float, str]]:
    from regviewer.app import session_images
    from regviewer.app.session_document import LandmarkPair
    from regviewer.app.session_io import open_session, save_session
    from regviewer.core.io import read_image

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-session-") as name:
        folder = Path(name)
        session = build(folder)
        peer = _timed(lambda: [read_image(session.images[role].path) for role in ("fixed", "moving")])
        rows.append((label, "peer: read fixed + moving images", peer, ""))
        for kind, target in (("folder", folder / "work.regviewer"), ("zip", folder / "work.regviewer.zip")):
            session_images._HASH_CACHE.clear()
            seconds = _timed(lambda: save_session(session, target))
            rows.append((label, f"first save ({kind}, hashing images)", seconds, f"{_size(target) / 1e6:.3f} MB"))
        session.landmarks.append(LandmarkPair("new", (1.0, 2.0, 3.0), None))
        seconds = _timed(lambda: save_session(session, folder / "work.regviewer"))
        rows.append((label, "quick save (folder, one landmark added)", seconds, ""))
        for kind, target in (("folder", folder / "work.regviewer"), ("zip", folder / "work.regviewer.zip")):
            session_images._HASH_CACHE.clear()
            opened = None

            def open_it():
                nonlocal opened
                opened = open_session(target)

            rows.append((label, f"open ({kind}: document, images hashed)", _timed(open_it), ""))
            rows.append(
                (
                    label,
                    f"read every run's transform ({kind})",
                    _timed(lambda: [r.load_transform() for r in opened.session.runs]),
                    "",
                )
            )
    return [(a, b, c, d, c / peer) for a, b, c, d in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    rows = measure("sample 3D", _sample_session)
    if not args.skip_large:
        rows += measure("7M, 5 runs", _large_session)
    print(f"{'pair':<12}{'step':<44}{'seconds':>9}{'x peer':>8}  size")
    for pair, step, seconds, size, ratio in rows:
        print(f"{pair:<12}{step:<44}{seconds:>9.3f}{ratio:>8.2f}  {size}")


if __name__ == "__main__":
    main()
