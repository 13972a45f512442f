"""Torch engines against the SimpleITK deformable preset: wall time, CPU time, peak memory and quality.

Cases: D1 (brain3d warped by a known deformation, ../shared/docs/PEERS.md; built on first use by
bench_registration.py's helper) and the two prostate_cohort test pairs (gland Dice on label channel 0,
TRE between the centroids of the landmark blobs in the other channels). Each (method, case) runs in
its own subprocess so that the peak RSS is its own. Figures: Dice, TRE (mm), % folded voxels
(Jacobian determinant <= 0 of the whole fixed -> moving map on the fixed grid).

Add a method by adding an entry to METHODS: a name -> function(case) -> Result.

usage: python tests/benchmarks/bench_torch.py [--methods A,B] [--cases D1,prostate25,prostate26]
       [--param NAME=VALUE ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

from bench_registration import DEFAULT_DATA, _d1  # noqa: E402


@dataclass
class Case:
    """A benchmark pair and what it is scored on (``data`` is a core.evaluation.EvaluationData)."""

    name: str
    data: object
    overrides: dict


def case_d1(data_folder: Path, overrides: dict) -> Case:
    from regviewer.core.evaluation import EvaluationData
    from regviewer.core.io import read_image

    folder = _d1(data_folder)
    data = EvaluationData(
        read_image(folder / "fixed.nii.gz"),
        read_image(folder / "moving.nii.gz"),
        None,
        read_image(folder / "fixed_labels.nii.gz", is_label=True),
        read_image(folder / "moving_labels.nii.gz", is_label=True),
        np.loadtxt(folder / "fixed_landmarks.csv", delimiter=",", skiprows=1),
        np.loadtxt(folder / "moving_landmarks.csv", delimiter=",", skiprows=1),
        np.loadtxt(folder / "score_labels.txt", dtype=int).tolist(),
    )
    return Case("D1", data, overrides)


def _on_extent(image, reference):
    """``image`` with the spacing that makes it cover ``reference``'s extent (corner voxel centres aligned).

    The prostate_cohort headers put both images at the same origin with 0.4 mm voxels, so that the
    glands do not even overlap; like DeepReg (which resizes both to one shape), we take the two
    images to cover the same field of view.
    """
    from regviewer.core.image import Geometry, Image

    ratio = (np.array(reference.geometry.size) - 1) / (np.array(image.geometry.size) - 1)
    geometry = Geometry(
        image.shape, reference.geometry.spacing * ratio, reference.geometry.origin, reference.geometry.direction
    )
    return Image(image.array, geometry, name=image.name, is_label=image.is_label)


def _centroids(path: Path, channels: int, reference) -> np.ndarray:
    from regviewer.core.io import read_image

    points = []
    for channel in range(1, channels):
        blob = _on_extent(read_image(path, is_label=True, channel=channel), reference)
        index_zyx = np.argwhere(np.asarray(blob.array) > 0).mean(axis=0)
        points.append(blob.index_to_physical(index_zyx[::-1]))
    return np.array(points)


def case_prostate(data_folder: Path, number: str, overrides: dict) -> Case:
    import nibabel

    from regviewer.core.evaluation import EvaluationData
    from regviewer.core.io import read_image

    folder = data_folder / "prostate_cohort" / "test"
    name = f"case0000{number}.nii.gz"
    channels = nibabel.load(folder / "fixed_labels" / name).shape[-1]
    fixed = read_image(folder / "fixed_images" / name)
    data = EvaluationData(
        fixed,
        _on_extent(read_image(folder / "moving_images" / name), fixed),
        None,
        read_image(folder / "fixed_labels" / name, is_label=True, channel=0),
        _on_extent(read_image(folder / "moving_labels" / name, is_label=True, channel=0), fixed),
        _centroids(folder / "fixed_labels" / name, channels, fixed),
        _centroids(folder / "moving_labels" / name, channels, fixed),
        [1],
    )
    return Case(f"prostate{number}", data, overrides)


CASES: dict[str, Callable[[Path, dict], Case]] = {
    "D1": case_d1,
    "prostate25": lambda folder, overrides: case_prostate(folder, "25", overrides),
    "prostate26": lambda folder, overrides: case_prostate(folder, "26", overrides),
}


def _preset(name: str):
    def run(case: Case):
        from regviewer.registration.base import Request
        from regviewer.registration.pipeline import override_stages, run_chain
        from regviewer.registration.presets import get_preset

        stages = override_stages(get_preset(name).stages, case.overrides) if case.overrides else get_preset(name).stages
        return run_chain(stages, Request(case.data.fixed, case.data.moving))

    return run


def _network(refinement_iterations: int, affine_first: bool = False):
    """The "network" method (bundled model of the images' dimension), alone or after an affine stage."""

    def run(case: Case):
        from regviewer.registration.base import Request
        from regviewer.registration.pipeline import Stage, run_chain

        stages = [Stage("affine", {"metric": "ncc"})] if affine_first else []
        stages.append(Stage("network", {"refinement_iterations": refinement_iterations}))
        return run_chain(stages, Request(case.data.fixed, case.data.moving))

    return run


METHODS: dict[str, Callable[[Case], object]] = {
    "sitk-bspline (preset deformable)": _preset("deformable"),
    "torch optimiser (preset deformable-torch)": _preset("deformable-torch"),
    "network alone": _network(0),
    "network + 50 refinement": _network(50),
    "affine + network": _network(0, affine_first=True),
    "affine + network + 50 refinement": _network(50, affine_first=True),
}


def run_one(method: str, case_name: str, data_folder: Path, overrides: dict) -> dict:
    from regviewer.core.evaluation import evaluate, jacobian_figures

    case = CASES[case_name](data_folder, overrides if "torch" in method else {})
    before = evaluate(None, case.data)
    cpu_started, started = time.process_time(), time.perf_counter()
    result = METHODS[method](case)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    after = evaluate(result.transform, case.data)
    jacobian = jacobian_figures(result.transform, case.data)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "dice_before": before["dice_mean"],
        "dice": after["dice_mean"],
        "tre_before_mm": before["tre_mean_mm"],
        "tre_mm": after["tre_mean_mm"],
        "folded_pct": jacobian["folded_pct"],
        "jacobian_min": jacobian["jacobian_min"],
        "log": [line for line in getattr(result, "log", ()) if "s," in line or "device" in line],
    }


COLUMNS = (
    "wall_s",
    "cpu_s",
    "peak_rss_mb",
    "dice_before",
    "dice",
    "tre_before_mm",
    "tre_mm",
    "folded_pct",
    "jacobian_min",
)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE for the torch methods")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.param)
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], Path(args.data), overrides)))
        return
    rows = []
    print("| case | method | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for case_name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            command = [sys.executable, __file__, "--one", method, case_name, "--data", args.data] + [
                f"--param={p}" for p in args.param
            ]
            process = subprocess.run(command, capture_output=True, text=True)
            if process.returncode != 0:
                figures = {"error": (process.stderr.strip().splitlines() or ["failed"])[-1]}
            else:
                figures = json.loads(process.stdout.strip().splitlines()[-1])
            rows.append({"case": case_name, "method": method, **figures})
            cells = [_cell(figures.get(column)) for column in COLUMNS] if "error" not in figures else [figures["error"]]
            print(f"| {case_name} | {method} | " + " | ".join(cells) + " |", flush=True)
            for line in figures.get("log", []):
                print(f"    {line}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
