"""Registration benchmark: wall time, peak memory and quality for each method and data set.

Each case runs in its own subprocess (so that peak RSS is the case's own) and the parent prints a
table. The benchmark case D1 is built with ../shared/tools/make_d1.py (see ../shared/docs/PEERS.md)
into a cache folder on first use.

usage: python tests/benchmarks/bench_registration.py [--cases NAME,...] [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_DATA = ROOT.parent / "shared" / "data"
D1_CACHE = Path(os.environ.get("REGVIEWER_BENCH_CACHE", Path.home() / ".cache" / "regviewer-bench")) / "D1_brain3d"

PEERS_D1 = [
    ("identity", 0.371, 7.14, "-"),
    ("Greedy 1.4, NCC", 0.961, 0.23, "18.4 + 34.5"),
    ("ANTs SyN, Mattes", 0.961, 0.23, "17.1 + 16.2"),
    ("elastix B-spline, NCC + bending", 0.986, 0.07, "2.2 + 12.3"),
    ("SimpleITK B-spline, LBFGSB, 2%", 0.977, 0.13, "5.9 + 154.8"),
]


def _d1(data: Path) -> Path:
    if not (D1_CACHE / "case.json").exists():
        subprocess.run(
            [sys.executable, str(data.parent / "tools" / "make_d1.py"), str(data / "brain3d"), str(D1_CACHE)],
            check=True,
            capture_output=True,
        )
    return D1_CACHE


def case_d1(data: Path, preset: str) -> dict:
    from regviewer.core.evaluation import EvaluationData, evaluate, jacobian_figures
    from regviewer.core.io import read_image
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import run_chain
    from regviewer.registration.presets import get_preset

    folder = _d1(data)
    fixed, moving = read_image(folder / "fixed.nii.gz"), read_image(folder / "moving.nii.gz")
    fixed_points = np.loadtxt(folder / "fixed_landmarks.csv", delimiter=",", skiprows=1)
    moving_points = np.loadtxt(folder / "moving_landmarks.csv", delimiter=",", skiprows=1)
    labels = np.loadtxt(folder / "score_labels.txt", dtype=int).tolist()
    started = time.perf_counter()
    result = run_chain(get_preset(preset).stages, Request(fixed, moving))
    wall = time.perf_counter() - started
    data_ = EvaluationData(
        fixed,
        moving,
        None,
        read_image(folder / "fixed_labels.nii.gz", is_label=True),
        read_image(folder / "moving_labels.nii.gz", is_label=True),
        fixed_points,
        moving_points,
        labels,
    )
    after = evaluate(result.transform, data_)
    jac = jacobian_figures(result.transform, data_)
    stage_times = " + ".join(f"{s['runtime_s']:.1f}" for s in result.parameters["stages"])
    return {
        "wall_s": wall,
        "stages_s": stage_times,
        "dice": after["dice_mean"],
        "tre_mm": after["tre_mean_mm"],
        "folded_pct": jac["folded_pct"],
        "jacobian_min": jac["jacobian_min"],
    }


def case_known(data: Path, spec: str) -> dict:
    """Recover a known rigid or affine transform of r16 (2D) or brain3d (3D); spec = "2d-rigid" etc."""
    from helpers import about_centre, foreground_points, max_error_mm, moving_for, rotation

    from regviewer.core.io import read_image
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import Stage, run_chain

    dimension, method = spec.split("-")
    if dimension == "2d":
        fixed, metric = read_image(data / "brain2d" / "r16slice.jpg"), "mse"
        rigid, stretch, shift = rotation(9.0), rotation(-6.0) @ np.array([[1.08, 0.04], [0.0, 0.93]]), (7.0, -5.0)
    else:
        fixed, metric = read_image(data / "brain3d" / "test_scan.npz"), "ncc"
        rigid, stretch, shift = (
            rotation((4.0, -3.0, 6.0)),
            rotation((-3.0, 4.0, 2.0)) @ np.diag([1.05, 0.96, 1.03]),
            (5.0, -4.0, 3.0),
        )
    truth = about_centre(fixed, rigid if method == "rigid" else stretch, shift)
    moving = moving_for(fixed, truth)
    started = time.perf_counter()
    result = run_chain([Stage(method, {"metric": metric})], Request(fixed, moving))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "max_error_mm": max_error_mm(result.transform, truth, foreground_points(fixed))}


def case_inter_subject_2d(data: Path, preset: str) -> dict:
    from regviewer.core.io import read_image
    from regviewer.core.metrics import ncc
    from regviewer.core.resample import resample_image
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import run_chain
    from regviewer.registration.presets import get_preset

    fixed, moving = read_image(data / "brain2d" / "r16slice.jpg"), read_image(data / "brain2d" / "r64slice.jpg")
    started = time.perf_counter()
    result = run_chain(get_preset(preset).stages, Request(fixed, moving))
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "ncc_before": ncc(fixed.array, moving.array),
        "ncc_after": ncc(fixed.array, resample_image(moving, fixed.geometry, result.transform).array),
    }


def case_multimodal_2d(data: Path, metric: str) -> dict:
    from helpers import about_centre, moving_for, rotation

    from regviewer.core.io import read_image
    from regviewer.core.metrics import dice_per_label
    from regviewer.core.resample import resample_image
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import Stage, run_chain

    folder = data / "multimodal2d"
    fixed, fixed_mask = (
        read_image(folder / "CT_2D_head_fixed.mha"),
        read_image(folder / "CT_2D_head_fixed_mask.mha", is_label=True),
    )
    moving0, mask0 = (
        read_image(folder / "CT_2D_head_moving.mha"),
        read_image(folder / "CT_2D_head_moving_mask.mha", is_label=True),
    )
    shift = about_centre(moving0, rotation(12.0), (9.0, -6.0))
    moving, moving_mask = moving_for(moving0, shift), moving_for(mask0, shift)
    started = time.perf_counter()
    result = run_chain(
        [Stage("rigid", {"metric": metric}), Stage("affine", {"metric": metric})], Request(fixed, moving)
    )
    wall = time.perf_counter() - started

    def dice(transform):
        return dice_per_label(
            fixed_mask.array > 0, resample_image(moving_mask, fixed.geometry, transform, "label").array > 0, [1]
        )[1]

    return {"wall_s": wall, "mask_dice_before": dice(None), "mask_dice_after": dice(result.transform)}


CASES = {
    "2d-known-rigid": (case_known, "2d-rigid"),
    "2d-known-affine": (case_known, "2d-affine"),
    "2d-r16-r64-affine": (case_inter_subject_2d, "affine"),
    "2d-r16-r64-deformable": (case_inter_subject_2d, "deformable"),
    "2d-r16-r64-demons": (case_inter_subject_2d, "deformable-demons"),
    "2d-multimodal-mi": (case_multimodal_2d, "mi"),
    "2d-multimodal-mse": (case_multimodal_2d, "mse"),
    "3d-known-rigid": (case_known, "3d-rigid"),
    "3d-known-affine": (case_known, "3d-affine"),
    "D1-affine": (case_d1, "affine"),
    "D1-deformable": (case_d1, "deformable"),
    "D1-demons": (case_d1, "deformable-demons"),
}


def run_case(name: str, data: Path) -> dict:
    function, argument = CASES[name]
    cpu_started = time.process_time()
    figures = function(data, argument)
    figures["cpu_s"] = time.process_time() - cpu_started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = Path(args.data)
    if args.one:
        print(json.dumps(run_case(args.one, data)))
        return
    rows = {}
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        process = subprocess.run(
            [sys.executable, __file__, "--one", name, "--data", str(data)], capture_output=True, text=True
        )
        if process.returncode != 0:
            rows[name] = {"error": process.stderr.strip().splitlines()[-1] if process.stderr.strip() else "failed"}
        else:
            rows[name] = json.loads(process.stdout.strip().splitlines()[-1])
        print(f"{name:<24}" + "  ".join(f"{k}={_format(v)}" for k, v in rows[name].items()), flush=True)
    if any(name.startswith("D1") for name in rows):
        print("\nPeers on D1 (../shared/docs/PEERS.md, same kind of machine): Dice (30 labels), TRE mm, time s")
        for peer, dice, tre, seconds in PEERS_D1:
            print(f"  {peer:<34} {dice:.3f}  {tre:.2f}  {seconds}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
