"""Side-by-side benchmark on case D1: elastix (itk-elastix) vs RegViewer's 'deformable' preset.

Both tools run in the same script run on the same machine, one after the other (never at once),
`--repeats` times, alternating which goes first; the table reports medians and the time RATIO
RegViewer / elastix (machines are shared and noisy: compare ratios, not absolute seconds).

elastix lives in its own virtual environment (itk is never imported here):
    python3 -m venv /tmp/peers-elastix
    /tmp/peers-elastix/bin/pip install itk-elastix numpy scipy SimpleITK
It runs in a subprocess with that interpreter (the helper program ELASTIX_HELPER below, written to a
temp dir): affine then B-spline, both with AdvancedNormalizedCorrelation (+ TransformBendingEnergyPenalty
for the B-spline), 3 resolutions, the affine started at the image centres, a 16 mm final B-spline grid
(docs PEERS.md; the elastix-bspline preset uses the same), elastix's default maps otherwise (2048 random samples per
iteration: on D1 that under-fits the deep grey matter; --bspline-samples 10000 is far more accurate
and ~3x slower). Times are the registration calls only (no image IO, no transformix, no result
image). transformix then warps the moving labels (nearest neighbour), maps the fixed landmarks
(fixed -> moving, LPS mm) and writes the deformation field on the fixed grid.

Both results are scored here by the same code (RegViewer's metrics): Dice = mean over the 30 labels
of score_labels.txt (moving labels warped into the fixed grid, nearest neighbour); TRE = mean
|T(fixed landmark) - moving landmark| over the 200 pairs; % folded = voxels with Jacobian determinant
<= 0 of the full fixed -> moving map sampled on the fixed grid (regviewer.core.deformation).
RegViewer's times are its per-stage runtime_s and the wall time of run_chain.

usage: python tests/benchmarks/bench_peers.py [--elastix-python VENV/bin/python] [--ants-python VENV/bin/python]
       [--peers elastix,ants] [--preset deformable,elastix-bspline,ants-syn] [--repeats 2]
       [--iterations 256] [--bspline-samples 2048] [--case ~/.cache/regviewer-bench/D1_brain3d] [--json out.json]

RegViewer's own elastix-bspline and ants-syn presets run the same engines inside RegViewer (child process,
progress, cancel): the lines "elastix-bspline vs elastix" and "ants-syn vs ants" give their Dice difference and
time overhead against the standalone tool in the same run. The ANTs peer (antspyx: Affine, then SyNOnly from it,
Mattes) is scored through its forward transforms read back by RegViewer (they reproduce ANTs' own warped image).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
D1 = Path(os.environ.get("REGVIEWER_BENCH_CACHE", Path.home() / ".cache" / "regviewer-bench")) / "D1_brain3d"

ELASTIX_HELPER = r"""
import json, sys, time
from pathlib import Path
import itk
import numpy as np

case, out, iterations, samples = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
fixed = itk.imread(str(case / "fixed.nii.gz"), itk.F)
moving = itk.imread(str(case / "moving.nii.gz"), itk.F)
defaults = itk.ParameterObject.New()
affine = defaults.GetDefaultParameterMap("affine", 3)
affine["Metric"] = ["AdvancedNormalizedCorrelation"]
affine["AutomaticTransformInitialization"] = ["true"]  # PEERS.md's settings
affine["AutomaticTransformInitializationMethod"] = ["GeometricalCenter"]
bspline = defaults.GetDefaultParameterMap("bspline", 3, 16.0)  # 16 mm final grid (PEERS.md)
bspline["Metric"] = ["AdvancedNormalizedCorrelation", "TransformBendingEnergyPenalty"]
bspline["NumberOfSpatialSamples"] = [samples]  # elastix default 2048
for m in (affine, bspline):
    m["NumberOfResolutions"] = ["3"]
    m["MaximumNumberOfIterations"] = [iterations]
    m["WriteResultImage"] = ["false"]  # registration only; transformix does the warping below

def registration(parameter_map, initial=None):
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameter_map)
    method = itk.ElastixRegistrationMethod.New(fixed, moving)
    method.SetParameterObject(parameters)
    method.SetLogToConsole(False)
    if initial is not None:
        method.SetInitialTransformParameterObject(initial)
    started = time.perf_counter()
    method.Update()
    return method.GetTransformParameterObject(), time.perf_counter() - started

affine_result, affine_s = registration(affine)
bspline_result, bspline_s = registration(bspline, affine_result)
maps = [affine_result.GetParameterMap(i) for i in range(affine_result.GetNumberOfParameterMaps())]
own = [bspline_result.GetParameterMap(i) for i in range(bspline_result.GetNumberOfParameterMaps())]
maps = own if len(own) > len(maps) else maps + own  # does the B-spline result already hold the affine map?
chain = itk.ParameterObject.New()
for m in maps:
    chain.AddParameterMap(m)

points = np.loadtxt(case / "fixed_landmarks.csv", delimiter=",", skiprows=1)
(out / "points.txt").write_text("point\n%d\n" % len(points) + "\n".join(" ".join("%.10f" % v for v in p) for p in points) + "\n")
def transformix(out_dir, **settings):
    out_dir.mkdir()
    run = itk.TransformixFilter.New(moving)
    run.SetTransformParameterObject(chain)
    run.SetOutputDirectory(str(out_dir))
    run.SetLogToConsole(False)
    for name, value in settings.items():
        getattr(run, "Set" + name)(value)
    run.Update()
    return run

field = transformix(out / "field", ComputeDeformationField=True, ComputeDeterminantOfSpatialJacobian=True).GetOutputDeformationField()
field = np.asarray(itk.array_from_image(field), dtype=np.float64)
transformix(out / "points", FixedPointSetFileName=str(out / "points.txt"))
carried = [line.split("OutputPoint = [")[1].split("]")[0].split() for line in (out / "points" / "outputpoints.txt").read_text().splitlines()]
jac = itk.array_from_image(itk.imread(str(next((out / "field").glob("spatialJacobian.*")))))

nearest = itk.ParameterObject.New()
for m in maps:
    m = dict(m)
    m.update(ResampleInterpolator=["FinalNearestNeighborInterpolator"], FinalBSplineInterpolationOrder=["0"], ResultImagePixelType=["float"])
    nearest.AddParameterMap(m)
labels = itk.imread(str(case / "moving_labels.nii.gz"), itk.F)
warped_labels = np.rint(itk.array_from_image(itk.transformix_filter(labels, nearest, log_to_console=False))).astype(np.int32)
np.save(out / "field.npy", field)
np.save(out / "warped_labels.npy", warped_labels)
np.save(out / "carried.npy", np.asarray(carried, dtype=np.float64))
json.dump({"affine_s": affine_s, "deformable_s": bspline_s, "n_maps": len(maps), "own_folded_pct": float(100.0 * np.mean(jac <= 0)),
           "maps": [{k: list(v) for k, v in m.items()} for m in (affine, bspline)]}, open(out / "result.json", "w"))
"""


ANTS_HELPER = r"""
import json, sys, time
from pathlib import Path
import ants

case, out = Path(sys.argv[1]), Path(sys.argv[2])
fixed = ants.image_read(str(case / "fixed.nii.gz"))
moving = ants.image_read(str(case / "moving.nii.gz"))
started = time.perf_counter()
affine = ants.registration(fixed, moving, type_of_transform="Affine", aff_metric="mattes", outprefix=str(out / "affine_"), random_seed=1)
affine_s = time.perf_counter() - started
started = time.perf_counter()
syn = ants.registration(fixed, moving, type_of_transform="SyNOnly", initial_transform=affine["fwdtransforms"], syn_metric="mattes",
                        outprefix=str(out / "syn_"), random_seed=1)
syn_s = time.perf_counter() - started
json.dump({"affine_s": affine_s, "deformable_s": syn_s, "fwdtransforms": list(syn["fwdtransforms"]),
           "affine": list(affine["fwdtransforms"])}, open(out / "result.json", "w"))
"""


def load_case(case: Path) -> dict:
    from regviewer.core.io import read_image

    return {
        "fixed": read_image(case / "fixed.nii.gz"),
        "moving": read_image(case / "moving.nii.gz"),
        "fixed_labels": read_image(case / "fixed_labels.nii.gz", is_label=True),
        "moving_labels": read_image(case / "moving_labels.nii.gz", is_label=True),
        "fixed_points": np.loadtxt(case / "fixed_landmarks.csv", delimiter=",", skiprows=1),
        "moving_points": np.loadtxt(case / "moving_landmarks.csv", delimiter=",", skiprows=1),
        "labels": np.loadtxt(case / "score_labels.txt", dtype=int).tolist(),
    }


def score(data: dict, warped_labels: np.ndarray, carried: np.ndarray, displacement: np.ndarray) -> dict:
    """The same figures for both tools: Dice mean (30 labels), TRE mean mm (forward), % folded voxels."""
    from regviewer.core import deformation, metrics

    dice = metrics.dice_per_label(data["fixed_labels"].array, warped_labels, data["labels"])
    tre = np.linalg.norm(carried - data["moving_points"], axis=1)
    jac = deformation.jacobian_stats(deformation.jacobian_determinant(displacement, data["fixed"].geometry))
    return {
        "dice": metrics.finite_mean(dice),
        "tre_mm": float(tre.mean()),
        "tre_max_mm": float(tre.max()),
        "folded_pct": jac["folded_pct"],
        "jacobian_min": jac["jacobian_min"],
    }


def run_elastix(python: str, case: Path, data: dict, iterations: int, samples: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-elastix-") as tmp:
        out = Path(tmp)
        (out / "helper.py").write_text(ELASTIX_HELPER)
        process = subprocess.run(
            [python, str(out / "helper.py"), str(case), str(out), str(iterations), str(samples)],
            capture_output=True,
            text=True,
        )
        if process.returncode != 0:
            raise RuntimeError(f"elastix helper failed:\n{process.stderr[-3000:]}")
        info = json.loads((out / "result.json").read_text())
        figures = score(
            data, np.load(out / "warped_labels.npy"), np.load(out / "carried.npy"), np.load(out / "field.npy")
        )
    return {
        **figures,
        "affine_s": info["affine_s"],
        "deformable_s": info["deformable_s"],
        "total_s": info["affine_s"] + info["deformable_s"],
        "elastix_own_folded_pct": info["own_folded_pct"],
        "n_maps": info["n_maps"],
        "maps": info["maps"],
    }


def run_ants(python: str, case: Path, data: dict) -> dict:
    """Standalone antspyx (Affine, then SyNOnly from it, Mattes), in its own process; scored by our code
    through its forward transforms (tests/test_ants.py: they reproduce ANTs' own warped image to 1e-5)."""
    from regviewer.core.evaluation import EvaluationData, displacement_field
    from regviewer.core.io.transforms_io import read_transform
    from regviewer.core.resample import resample_image
    from regviewer.core.transforms import CompositeTransform

    with tempfile.TemporaryDirectory(prefix="bench-ants-") as tmp:
        out = Path(tmp)
        (out / "helper.py").write_text(ANTS_HELPER)
        process = subprocess.run([python, str(out / "helper.py"), str(case), str(out)], capture_output=True, text=True)
        if process.returncode != 0:
            raise RuntimeError(f"ANTs helper failed:\n{process.stderr[-3000:]}")
        info = json.loads((out / "result.json").read_text())
        names = info["fwdtransforms"]
        parts = [read_transform(name) for name in names]
        if (
            not any(name.startswith(str(out / "syn_")) and name.endswith(".mat") for name in names)
            and info["affine"][0] not in names
        ):
            parts += [read_transform(name) for name in info["affine"]]
        transform = CompositeTransform(parts)
        warped = resample_image(data["moving_labels"], data["fixed"].geometry, transform, "label").array
        field = displacement_field(transform, EvaluationData(data["fixed"], data["moving"])).displacement
        figures = score(data, warped, transform.transform_points(data["fixed_points"]), field)
    return {
        **figures,
        "affine_s": info["affine_s"],
        "deformable_s": info["deformable_s"],
        "total_s": info["affine_s"] + info["deformable_s"],
    }


def preload(presets: list[str]) -> None:
    """Import the engines' bindings before timing: the standalone tools' times exclude their imports too."""
    from regviewer.registration.presets import get_preset

    methods = {stage.method for preset in presets for stage in get_preset(preset).stages}
    if any(name.startswith("elastix") for name in methods):
        from regviewer.registration.elastix import load_itk

        load_itk()
    if any(name.startswith("ants") for name in methods):
        from regviewer.registration.ants import load_ants

        load_ants()


def run_regviewer(data: dict, preset: str) -> dict:
    from regviewer.core.evaluation import EvaluationData, displacement_field
    from regviewer.core.resample import resample_image
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import run_chain
    from regviewer.registration.presets import get_preset

    started = time.perf_counter()
    result = run_chain(get_preset(preset).stages, Request(data["fixed"], data["moving"]))
    wall = time.perf_counter() - started
    stages = [s["runtime_s"] for s in result.parameters["stages"]]
    warped = resample_image(data["moving_labels"], data["fixed"].geometry, result.transform, "label").array
    field = displacement_field(result.transform, EvaluationData(data["fixed"], data["moving"])).displacement
    figures = score(data, warped, result.transform.transform_points(data["fixed_points"]), field)
    return {**figures, "affine_s": stages[0], "deformable_s": sum(stages[1:]), "total_s": wall}


PEER_OF = {"elastix-bspline": "elastix", "ants-syn": "ants"}  # RegViewer preset -> the standalone tool it wraps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elastix-python", default=sys.executable, help="interpreter of the venv holding itk-elastix")
    parser.add_argument("--ants-python", default=sys.executable, help="interpreter of the venv holding antspyx")
    parser.add_argument(
        "--peers", default="elastix", help="standalone tools to run, comma-separated: elastix, ants (or none)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=256, help="elastix MaximumNumberOfIterations per resolution")
    parser.add_argument(
        "--bspline-samples", type=int, default=2048, help="elastix NumberOfSpatialSamples of the B-spline stage"
    )
    parser.add_argument(
        "--preset",
        default="deformable",
        help="RegViewer presets to run, comma-separated (e.g. deformable,elastix-bspline,ants-syn)",
    )
    parser.add_argument("--case", default=str(D1))
    parser.add_argument("--json", help="also write every run's figures to this JSON file")
    args = parser.parse_args()
    case = Path(args.case).expanduser()
    data = load_case(case)
    presets = [p for p in args.preset.split(",") if p]
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    preload(presets)
    tools = peers + [f"rv:{preset}" for preset in presets]
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    columns = ("dice", "tre_mm", "folded_pct", "affine_s", "deformable_s", "total_s")
    for repeat in range(args.repeats):
        order = tools if repeat % 2 == 0 else list(reversed(tools))
        for tool in order:
            if tool == "elastix":
                row = run_elastix(args.elastix_python, case, data, args.iterations, args.bspline_samples)
            elif tool == "ants":
                row = run_ants(args.ants_python, case, data)
            else:
                row = run_regviewer(data, tool[3:])
            row["load_1min"] = os.getloadavg()[0]  # load average when the run ended (the machine is shared)
            runs[tool].append(row)
            print(
                f"repeat {repeat + 1} {tool:<22} " + "  ".join(f"{k}={row[k]:.3f}" for k in (*columns, "load_1min")),
                flush=True,
            )
    loads = [r["load_1min"] for tool in tools for r in runs[tool]]
    print(
        f"\nD1, medians over {args.repeats} repeats (1-min load average at the end of each run: "
        f"{min(loads):.1f}-{max(loads):.1f}, now {os.getloadavg()[0]:.2f})"
    )
    print(f"{'tool':<34}{'Dice':>8}{'TRE mm':>8}{'% folded':>10}{'affine s':>10}{'deform s':>10}{'total s':>9}")
    names = {"elastix": "elastix (itk-elastix), standalone", "ants": "ANTs (antspyx), standalone"}
    medians = {}
    for tool in tools:
        med = {c: statistics.median(r[c] for r in runs[tool]) for c in columns}
        medians[tool] = med
        name = names.get(tool, f"RegViewer '{tool[3:]}'")
        print(
            f"{name:<34}{med['dice']:>8.3f}{med['tre_mm']:>8.3f}{med['folded_pct']:>10.4f}{med['affine_s']:>10.1f}{med['deformable_s']:>10.1f}{med['total_s']:>9.1f}"
        )
    for tool in tools:
        for peer in peers:
            if not tool.startswith("rv:"):
                continue
            ratios = [r["total_s"] / e["total_s"] for r, e in zip(runs[tool], runs[peer])]
            wrapped = " (the same engine inside RegViewer)" if PEER_OF.get(tool[3:]) == peer else ""
            print(
                f"{tool[3:]} vs {peer}{wrapped}: Dice {medians[tool]['dice'] - medians[peer]['dice']:+.4f}, time ratio median "
                f"{statistics.median(ratios):.2f}, spread {min(ratios):.2f}-{max(ratios):.2f} "
                f"(per repeat: {', '.join(f'{x:.2f}' for x in ratios)})"
            )
    if "elastix" in runs:
        own = ", ".join(f"{r['elastix_own_folded_pct']:.4f}" for r in runs["elastix"])
        print(f"elastix's own Jacobian determinant (transformix) % folded, per repeat: {own}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs}, indent=1, default=str))


if __name__ == "__main__":
    main()
