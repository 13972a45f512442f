"""A prostate MR -> ultrasound network, weakly supervised by the gland labels (as in DeepReg), and its test figures.

prepare: writes the prostate_cohort's 25 training pairs as 3D NIfTI files (the moving MR taken to cover
    the ultrasound's field of view, as bench_torch.case_prostate does; the gland label = channel 0) and
    a ``regviewer train`` configuration (pairs = "listed", Dice loss only: similarity_weight = 0);
    with --landmarks, each pair's landmark channels join the gland as labels 2, 3, ... (as DeepReg
    trains on all of a pair's labels; the test pairs' landmarks stay unseen);
    then train with ``regviewer train --config FOLDER/prostate.toml``.
evaluate: gland Dice and landmark-centroid TRE of the trained model (network stage alone, and after
    an affine stage) on the 2 test pairs, next to identity and the deformable-torch preset (without the
    gland labels, with them loaded, with them in a Dice term of weight 0.5), all scored by the same
    code (regviewer.core.evaluation; TRE = moving landmarks carried into the fixed image).

usage: python tests/benchmarks/train_prostate.py prepare FOLDER [--steps N] [--threads 1]
       python tests/benchmarks/train_prostate.py evaluate MODEL [--cases 25,26]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "benchmarks")]

from bench_registration import DEFAULT_DATA  # noqa: E402
from bench_torch import _on_extent, case_prostate  # noqa: E402

CONFIG = """[model]
shape = [40, 56, 40]
encoder = [8, 16, 16, 16]
decoder = [16, 16, 16, 8]

[data]
images = [
{images}
]
pairs = "listed"
synth_fraction = 0.0

[deformation]
max_displacement_voxels = 3.0
max_rotation_deg = 5.0
max_scaling = 0.05
max_translation_voxels = 3.0

[loss]
similarity_weight = 0.0
dice_weight = 1.0
smoothness_weight = {smoothness}

[training]
steps = {steps}
learning_rate = 1e-3
checkpoint_every = 100
log_every = 20
threads = {threads}

[output]
dir = "run"
"""


def _labels(path: Path, landmarks: bool):
    """The gland (1); with ``landmarks``, each further channel painted over it as its own value (2, 3, ...)."""
    import nibabel

    from regviewer.core.io import read_image

    gland = read_image(path, is_label=True, channel=0)
    if not landmarks:
        return gland
    merged = (np.asarray(gland.array) > 0).astype(np.uint8)
    shape = nibabel.load(path).shape
    for channel in range(1, shape[3] if len(shape) == 4 else 1):
        merged[np.asarray(read_image(path, is_label=True, channel=channel).array) > 0] = channel + 1
    return gland.with_array(merged)


def prepare(folder: Path, steps: int, threads: int, smoothness: float, landmarks: bool) -> Path:
    from regviewer.core.io import read_image, write_image

    source = DEFAULT_DATA / "prostate_cohort" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for path in sorted((source / "fixed_images").glob("*.nii.gz")):
        name = path.name.removesuffix(".nii.gz")
        fixed = read_image(path)
        moving = _on_extent(read_image(source / "moving_images" / path.name), fixed)
        fixed_labels = _labels(source / "fixed_labels" / path.name, landmarks)
        moving_labels = _on_extent(_labels(source / "moving_labels" / path.name, landmarks), fixed)
        for role, image, labels in (("moving", moving, moving_labels), ("fixed", fixed, fixed_labels)):
            write_image(image, folder / f"{name}_{role}.nii.gz")
            write_image(labels, folder / f"{name}_{role}_labels.nii.gz")
            entries.append(f'  {{image = "{name}_{role}.nii.gz", labels = "{name}_{role}_labels.nii.gz"}},')
    config = folder / "prostate.toml"
    config.write_text(
        CONFIG.format(images="\n".join(entries), steps=steps, threads=threads, smoothness=smoothness), encoding="utf-8"
    )
    return config


def evaluate(model: str, cases: list[str]) -> list[dict]:
    from regviewer.core.evaluation import evaluate as score
    from regviewer.core.evaluation import jacobian_figures
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import Stage, override_stages, run_chain
    from regviewer.registration.presets import get_preset

    rows = []
    for number in cases:
        data = case_prostate(DEFAULT_DATA, number, {}).data
        before = score(None, data)
        rows.append(
            {
                "case": f"prostate{number}",
                "method": "identity",
                "dice": before["dice_mean"],
                "tre_mm": before["tre_mean_mm"],
            }
        )
        labelled = {"fixed_labels": data.fixed_labels, "moving_labels": data.moving_labels}
        for label, stages, extra in (
            ("network", [Stage("network", {"model": model})], {}),
            ("affine + network", [Stage("affine", {"metric": "mi"}), Stage("network", {"model": model})], {}),
            ("deformable-torch", get_preset("deformable-torch").stages, {}),
            ("deformable-torch + gland labels", get_preset("deformable-torch").stages, labelled),
            (
                "deformable-torch + gland label term 0.5",
                override_stages(get_preset("deformable-torch").stages, {"label_weight": 0.5}),
                labelled,
            ),
        ):
            started = time.perf_counter()
            result = run_chain(stages, Request(data.fixed, data.moving, **extra))
            wall = time.perf_counter() - started
            after = score(result.transform, data)
            rows.append(
                {
                    "case": f"prostate{number}",
                    "method": label,
                    "dice": after["dice_mean"],
                    "tre_mm": after["tre_mean_mm"],
                    "folded_pct": jacobian_figures(result.transform, data)["folded_pct"],
                    "time_s": wall,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare")
    make.add_argument("folder")
    make.add_argument("--steps", type=int, default=1200)
    make.add_argument("--threads", type=int, default=1)
    make.add_argument("--smoothness", type=float, default=1.0)
    make.add_argument(
        "--landmarks", action="store_true", help="train on the landmark channels too, not the gland alone"
    )
    check = commands.add_parser("evaluate")
    check.add_argument("model")
    check.add_argument("--cases", default="25,26")
    args = parser.parse_args()
    if args.command == "prepare":
        print(prepare(Path(args.folder), args.steps, args.threads, args.smoothness, args.landmarks))
        return
    for row in evaluate(args.model, [c.strip() for c in args.cases.split(",") if c.strip()]):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
