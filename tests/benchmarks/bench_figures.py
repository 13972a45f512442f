"""Before / after figures of a run on a label-rich pair: the quick figures (Dice per label, what the window
shows first) against the complete ones (image metrics, Jacobian, HD95 per label), measured in the same run.

A real 3D T1 brain (brain3d/test_scan.npz, 160x192x224 at 1 mm, 6.9 M voxels) with its FreeSurfer
segmentation split into about 116 labels (each label cut into quarters along z, like an atlas with many
small regions), warped by a smooth displacement field (the moving image and labels). Both
figure sets are computed for that field, three times each; the table prints the median seconds and
the ratio complete / quick.

usage: python tests/benchmarks/bench_figures.py [--repeats 3] [--labels 116]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("REGVIEWER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _pair(n_labels: int):
    from regviewer.core.evaluation import EvaluationData
    from regviewer.core.image import Image
    from regviewer.core.resample import resample_image
    from regviewer.core.transforms import DisplacementFieldTransform

    data = np.load(SHARED / "brain3d" / "test_scan.npz")
    volume = np.asarray(data["vol"], dtype=np.float32)
    segmentation = np.asarray(data["seg"]).astype(np.int32)
    quarters = np.minimum(np.arange(segmentation.shape[0]) * 4 // segmentation.shape[0], 3)[:, None, None]
    split = np.where(segmentation > 0, segmentation * 4 + quarters, 0)
    values, counts = np.unique(split[split > 0], return_counts=True)
    keep = values[np.argsort(counts)[::-1][:n_labels]]
    labels = np.where(np.isin(split, keep), split, 0).astype(np.int16)
    fixed = Image.from_array(volume, name="fixed")
    fixed_labels = Image.from_array(labels, name="fixed-labels", is_label=True)
    z, y, x = np.meshgrid(*(np.linspace(0, np.pi, n) for n in volume.shape), indexing="ij")
    displacement = np.stack(
        [2.0 * np.sin(z) * np.sin(y), 1.5 * np.sin(x) * np.sin(z), 1.0 * np.sin(y) * np.sin(x)], axis=-1
    )
    field = DisplacementFieldTransform(displacement.astype(np.float64), fixed.geometry)
    moving = resample_image(fixed, fixed.geometry, field, "linear")  # a pair the field roughly undoes
    moving_labels = resample_image(fixed_labels, fixed.geometry, field, "label")
    return field, EvaluationData(fixed, moving, None, fixed_labels, moving_labels), len(keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--labels", type=int, default=116)
    args = parser.parse_args()
    from regviewer.core.evaluation import before_after
    from regviewer.registration.run_protocol import quick_figures

    started = time.perf_counter()
    transform, evaluation, n_labels = _pair(args.labels)
    print(
        f"pair: {evaluation.fixed.shape} voxels, {n_labels} labels, field transform (prepared in {time.perf_counter() - started:.1f} s)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    timings: dict[str, list[float]] = {"quick (Dice per label)": [], "complete (all + HD95)": []}
    for _ in range(args.repeats):
        for name, compute in (("quick (Dice per label)", quick_figures), ("complete (all + HD95)", before_after)):
            started = time.perf_counter()
            figures = compute(transform, evaluation)
            timings[name].append(time.perf_counter() - started)
    quick, complete = (statistics.median(values) for values in timings.values())
    print(f"{'figures':<26}{'median s':>10}{'min s':>10}")
    for name, values in timings.items():
        print(f"{name:<26}{statistics.median(values):>10.2f}{min(values):>10.2f}")
    print(f"complete / quick: {complete / quick:.1f}x;  Dice mean after: {figures['after']['dice_mean']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
