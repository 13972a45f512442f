"""Side by side in one run: elastix, RegViewer's `deformable` (SimpleITK) and `deformable-torch`, old vs new.

Cases (each a folder of fixed / moving images, their labels, score_labels.txt and landmark pairs):
- D1: brain3d warped by a known deformation (../shared/docs/PEERS.md; built on first use);
- sample3d: brain3d at 2 mm warped by a known affine + smooth field (the fixture of tests/test_torch_opt.py),
  200 foreground landmark pairs carried by the true map;
- mni (needs nilearn): nilearn's MNI152 template -> brain3d, grey / white matter Dice: two different brains,
  a pair no preset was tuned on (no landmarks);
- prostate25, prostate26: the prostate_cohort test pairs (MR -> ultrasound), both images taken to cover
  the same field of view (as bench_torch.py does), gland label (channel 0) scored, TRE between the
  centroids of the landmark blobs.

Methods: "elastix" (itk-elastix with the PEERS.md settings: affine then B-spline, NCC + bending,
3 resolutions; the helper of bench_peers.py, run by --elastix-python, default this interpreter),
"deformable" and "deformable-torch" (this tree), "deformable-torch-old" (the same preset from the
git revision --old, extracted to a temporary folder). Every (method, case) runs in its own process,
one at a time, so that the peak RSS is its own; the figures are all scored by the same code
(bench_peers.score: Dice of nearest-neighbour warped labels, TRE mean mm, % voxels with Jacobian
determinant <= 0 of the whole map on the fixed grid).

Times are wall seconds of the registration call, imports excluded on both sides (elastix's helper
imports itk, and this one torch, before the clock starts; ``import torch`` costs 1-3 s more in a fresh process). The machine is shared: each table prints the load
average before and after it and the ratio of every method's time to elastix's in the same run;
compare ratios, not seconds.

Also "identity" (no registration: the starting figures) and "PRESET+labels" (any preset, with the
case's label maps in the request, as "Use label maps" does), "PRESET+labels:W" (the same with a Dice
term of weight W: label_weight) and "network:MODEL" (the network method alone, e.g. network:prostate3d).

usage: python tests/benchmarks/bench_torch_peers.py [--cases D1,sample3d,prostate25,prostate26]
       [--methods elastix,deformable,deformable-torch,deformable-torch-old] [--old REV] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("REGVIEWER_BENCH_CACHE", Path.home() / ".cache" / "regviewer-bench"))
DATA = ROOT.parent / "shared" / "data"
METHODS = ("elastix", "deformable", "deformable-torch", "deformable-torch-old")
COLUMNS = ("dice", "tre_mm", "folded_pct", "time_s", "peak_rss_mb")


def _write_case(folder: Path, fixed, moving, fixed_labels, moving_labels, fixed_points, moving_points, labels) -> Path:
    from regviewer.core.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for name, image in (
        ("fixed", fixed),
        ("moving", moving),
        ("fixed_labels", fixed_labels),
        ("moving_labels", moving_labels),
    ):
        write_image(image, folder / f"{name}.nii.gz")
    header = "x,y,z"
    np.savetxt(folder / "fixed_landmarks.csv", fixed_points, delimiter=",", header=header, comments="")
    np.savetxt(folder / "moving_landmarks.csv", moving_points, delimiter=",", header=header, comments="")
    np.savetxt(folder / "score_labels.txt", np.asarray(labels, dtype=int), fmt="%d")
    (folder / "case.json").write_text("{}")
    return folder


def case_folder(name: str) -> Path:
    """The folder of case ``name``, built on first use under the benchmark cache."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]
    if name == "D1":
        from bench_registration import _d1

        return _d1(DATA)
    folder = CACHE / name
    if (folder / "case.json").exists():
        return folder
    if name == "sample3d":
        return _sample3d(folder)
    if name == "mni":
        return _mni(folder)
    if name.startswith("prostate"):
        from bench_torch import case_prostate

        data = case_prostate(DATA, name.removeprefix("prostate"), {}).data
        return _write_case(
            folder,
            data.fixed,
            data.moving,
            data.fixed_labels,
            data.moving_labels,
            data.fixed_landmarks,
            data.moving_landmarks,
            [1],
        )
    raise SystemExit(f"unknown case {name!r}")


def _sample3d(folder: Path) -> Path:
    from helpers import about_centre, rotation, smooth_random_field
    from test_torch_opt import _at_2mm

    from regviewer.core.io import read_image
    from regviewer.core.resample import resample_image
    from regviewer.core.transforms import CompositeTransform

    npz = DATA / "brain3d" / "test_scan.npz"
    labels = np.load(DATA / "brain3d" / "labels.npz")["labels"].astype(int).tolist()
    fixed, fixed_labels = _at_2mm(read_image(npz)), _at_2mm(read_image(npz, is_label=True))
    affine = about_centre(fixed, rotation((3.0, -2.0, 4.0)) @ np.diag([1.03, 0.97, 1.02]), (3.0, -2.0, 2.0))
    truth = CompositeTransform([smooth_random_field(fixed.geometry, 4.0, coarse_mm=24.0, seed=7), affine])
    inverse = truth.inverse()
    moving = resample_image(fixed, fixed.geometry, inverse, "linear")
    moving_labels = resample_image(fixed_labels, fixed.geometry, inverse, "label")
    voxels = np.argwhere(np.asarray(fixed_labels.array) > 0)
    chosen = voxels[np.random.default_rng(1234).choice(len(voxels), 200, replace=False)]
    fixed_points = np.array([fixed.index_to_physical(index[::-1].astype(float)) for index in chosen])
    return _write_case(
        folder, fixed, moving, fixed_labels, moving_labels, fixed_points, truth.transform_points(fixed_points), labels
    )


def _mni(folder: Path) -> Path:
    """nilearn's MNI152 1 mm template (moving) -> brain3d's test scan (fixed): two different brains, scored on
    grey (1) and white matter (2). brain3d's array axes are A-P, S-I, L-R (by eye): it is put in the
    template's axis order (I-S, P-A, L-R) and given its directions. The template's GM / WM maps are
    thresholded at 0.5; brain3d's FreeSurfer labels 3 / 42 (cortex) and 2 / 41 (white matter) give its own.
    There are no landmarks: TRE is not meaningful (two placeholder points)."""
    try:
        from nilearn import datasets
    except ImportError as error:
        raise SystemExit("the mni case needs nilearn in this environment: pip install nilearn") from error
    from regviewer.core.image import Image
    from regviewer.core.io import read_image

    folder.mkdir(parents=True, exist_ok=True)
    maps = {}
    for name, load in (
        ("template", datasets.load_mni152_template),
        ("gm", datasets.load_mni152_gm_template),
        ("wm", datasets.load_mni152_wm_template),
    ):
        load(resolution=1).to_filename(folder / f"mni_{name}.nii.gz")
        maps[name] = read_image(folder / f"mni_{name}.nii.gz")
    template = maps["template"]
    direction = template.geometry.direction

    def reoriented(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.flip(np.transpose(array, (1, 0, 2)), axis=0))

    npz = DATA / "brain3d" / "test_scan.npz"
    scan = reoriented(np.asarray(read_image(npz).array, dtype=np.float32))
    segmentation = reoriented(np.asarray(read_image(npz, is_label=True).array))
    tissue = np.isin(segmentation, [3, 42]) + 2 * np.isin(segmentation, [2, 41])
    grey, white = np.asarray(maps["gm"].array), np.asarray(maps["wm"].array)
    template_tissue = np.where((grey > 0.5) & (grey >= white), 1, np.where(white > 0.5, 2, 0))
    on_template = {"spacing": template.geometry.spacing, "origin": template.geometry.origin, "direction": direction}
    points = np.zeros((2, 3)) + [[0.0], [1.0]]
    return _write_case(
        folder,
        Image.from_array(scan, spacing=(1.0, 1.0, 1.0), direction=direction),
        template,
        Image.from_array(tissue.astype(np.uint8), spacing=(1.0, 1.0, 1.0), direction=direction, is_label=True),
        Image.from_array(template_tissue.astype(np.uint8), is_label=True, **on_template),
        points,
        points,
        [1, 2],
    )


def run_one(method: str, case: Path, elastix_python: str) -> dict:
    """One method on one case, in this process (called with --one in a fresh process)."""
    import resource

    from bench_peers import load_case, run_elastix, run_regviewer  # puts this tree first on sys.path

    if os.environ.get("REGVIEWER_OLD_TREE"):
        sys.path.insert(0, os.environ["REGVIEWER_OLD_TREE"])  # ... unless the old rows are asked for
    data = load_case(case)
    data["labels"] = np.atleast_1d(np.loadtxt(case / "score_labels.txt", dtype=int)).tolist()  # one label: a 0-d array
    if method == "elastix":
        figures = run_elastix(elastix_python, case, data, 256, 2048)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {**_pick(figures), "time_s": figures["total_s"], "peak_rss_mb": children}
    import regviewer

    if "torch" in method:
        import torch  # noqa: F401  (imported before the clock starts, as elastix's helper imports itk before it)
    if method == "identity" or "+labels" in method or method.startswith("network:"):
        figures = _run_here(data, method)
    else:
        figures = run_regviewer(data, method.removesuffix("-old"))
    figures = {
        **_pick(figures),
        "time_s": figures["total_s"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    figures["tree"] = str(Path(regviewer.__file__).parents[1])
    return figures


def _run_here(data: dict, method: str) -> dict:
    """ "identity" (no registration); "PRESET+labels": the preset with the case's label maps in the
    request (as "Use label maps" in the window, or --fixed-labels / --moving-labels on the command line);
    "PRESET+labels:W" also sets the Dice term's weight (label_weight) to W; "network:MODEL": the network
    method alone with a bundled model's name or a model file."""
    import time

    from bench_peers import score

    from regviewer.core.evaluation import EvaluationData, displacement_field
    from regviewer.core.resample import resample_image
    from regviewer.core.transforms import AffineTransform
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import Stage, override_stages, run_chain
    from regviewer.registration.presets import get_preset

    started = time.perf_counter()
    if method == "identity":
        transform = AffineTransform.identity(data["fixed"].ndim)
    elif method.startswith("network:"):
        stages = [Stage("network", {"model": method.removeprefix("network:")})]
        transform = run_chain(stages, Request(data["fixed"], data["moving"])).transform
    else:
        request = Request(
            data["fixed"], data["moving"], fixed_labels=data["fixed_labels"], moving_labels=data["moving_labels"]
        )
        preset, _, weight = method.partition("+labels")
        stages = get_preset(preset).stages
        if weight:
            stages = override_stages(stages, {"label_weight": float(weight.removeprefix(":"))})
        result = run_chain(stages, request)
        transform = result.transform
        print("\n".join(line for line in result.log if "Dice" in line or "warning" in line), file=sys.stderr)
    wall = time.perf_counter() - started
    warped = resample_image(data["moving_labels"], data["fixed"].geometry, transform, "label").array
    field = displacement_field(transform, EvaluationData(data["fixed"], data["moving"])).displacement
    return {**score(data, warped, transform.transform_points(data["fixed_points"]), field), "total_s": wall}


def _pick(figures: dict) -> dict:
    return {key: figures[key] for key in ("dice", "tre_mm", "folded_pct", "jacobian_min")}


def extract_revision(revision: str, target: Path) -> Path:
    """The ``regviewer`` package of a git revision, extracted under ``target`` (for the "old" rows)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "regviewer"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="D1,sample3d,prostate25,prostate26")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--old", default="c5c6968", help="git revision of the 'old' deformable-torch rows")
    parser.add_argument("--elastix-python", default=sys.executable)
    parser.add_argument("--json")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path[:0] = [str(HERE)]
        print(json.dumps(run_one(args.one[0], Path(args.one[1]), args.elastix_python)))
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-old-") as old_tree:
        if "deformable-torch-old" in methods:
            extract_revision(args.old, Path(old_tree))
        for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
            folder = case_folder(name)
            load_before = os.getloadavg()[0]
            print(
                f"\n{name} (load average before: {load_before:.2f})\n| method | "
                + " | ".join(COLUMNS)
                + " | x elastix |\n"
                + "|---" * (len(COLUMNS) + 2)
                + "|",
                flush=True,
            )
            case_rows = []
            for method in methods:
                environment = dict(os.environ)
                if method.endswith("-old"):
                    environment["REGVIEWER_OLD_TREE"] = old_tree
                command = [
                    sys.executable,
                    str(Path(__file__)),
                    "--one",
                    method,
                    str(folder),
                    "--elastix-python",
                    args.elastix_python,
                ]
                process = subprocess.run(command, capture_output=True, text=True, env=environment)
                if process.returncode != 0:
                    figures = {"error": (process.stderr.strip().splitlines() or ["failed"])[-1][:160]}
                else:
                    figures = json.loads(process.stdout.strip().splitlines()[-1])
                case_rows.append({"case": name, "method": method, **figures})
            elastix_time = next((r.get("time_s") for r in case_rows if r["method"] == "elastix"), None)
            for row in case_rows:
                if "error" in row:
                    print(f"| {row['method']} | {row['error']} |")
                    continue
                ratio = f"{row['time_s'] / elastix_time:.2f}" if elastix_time else "-"
                print(
                    f"| {row['method']} | "
                    + " | ".join(f"{row[c]:.3f}" if c != "peak_rss_mb" else f"{row[c]:.0f}" for c in COLUMNS)
                    + f" | {ratio} |"
                )
            print(f"(load average after: {os.getloadavg()[0]:.2f}; 2-core machine shared with other jobs)", flush=True)
            rows += case_rows
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
