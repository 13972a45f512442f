"""Fundus pair with a known warp (skimage.data.retina(), 384 px): error in pixels of each method.

Registered on the green channel with the field-of-view mask as fixed mask (where a method uses masks).
Prints a table: method, mean / 95th percentile / max error in pixels at 400 points inside the field of
view, and the wall time. The elastix rows need itk-elastix (the [elastix] extra); without it they are
reported as not run. Run: ``python tests/benchmarks/bench_fundus.py [size]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importlib import metadata  # noqa: E402

from fundus import write_fundus_pair  # noqa: E402
from plugin_helpers import PLUGINS, declared_entry_points, plugin_on_path  # noqa: E402

from regviewer.core.colour import automatic_mask, field_of_view_mask, registration_channel  # noqa: E402
from regviewer.core.io import read_image  # noqa: E402
from regviewer.registration.base import Request  # noqa: E402
from regviewer.registration.pipeline import Stage, run_chain  # noqa: E402
from regviewer.registration.presets import get_preset  # noqa: E402
from regviewer.registration.registry import _SOURCE_TREE_BUILTINS, GROUP, build_registry  # noqa: E402


def _has_elastix() -> bool:
    try:
        import itk

        return hasattr(itk, "ElastixRegistrationMethod")
    except ImportError:
        return False


def main(size: int = 384) -> None:
    try:
        import torch

        torch.set_num_threads(2)  # the machine is shared
    except ImportError:
        pass
    started_load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="fundus-"))
    fixed_path, moving_path, truth = write_fundus_pair(folder, size)
    fixed = registration_channel(read_image(fixed_path), "green")
    moving = registration_channel(read_image(moving_path), "green")
    mask = field_of_view_mask(fixed, erode_px=6)
    inside = np.argwhere(field_of_view_mask(fixed, erode_px=20).array > 0)
    chosen = inside[np.random.default_rng(0).choice(len(inside), 400, replace=False)]
    points = fixed.index_to_physical(chosen[:, ::-1].astype(float))
    expected = truth.transform_points(points)
    entries = [metadata.EntryPoint(n, v, GROUP) for n, v in _SOURCE_TREE_BUILTINS.items()]
    for name in ("regviewer-tvl1", "regviewer-stn"):
        entries += declared_entry_points(PLUGINS / name, GROUP)
    retina = [Stage(s.method, dict(s.parameters)) for s in get_preset("retina-2d").stages]
    chains = {
        "identity (start)": [],
        "affine (ncc)": [Stage("affine", {"metric": "ncc"})],
        "retina-2d preset (affine -> bspline)": retina,
        "retina-2d, no mask": retina,
        "retina-2d, preset's automatic FOV (both)": retina,
        "optical-flow-tvl1": [Stage("optical-flow-tvl1")],
        "affine -> optical-flow-tvl1": [Stage("affine", {"metric": "ncc"}), Stage("optical-flow-tvl1")],
        "stn-affine (network only)": [Stage("stn-affine", {"refine_iterations": 0})],
        "stn-affine": [Stage("stn-affine")],
        "stn-affine -> bspline": [Stage("stn-affine"), retina[-1]],
    }
    if _has_elastix():
        elastix_affine = [Stage(s.method, dict(s.parameters)) for s in get_preset("elastix-affine").stages]
        elastix_bspline = [Stage(s.method, dict(s.parameters)) for s in get_preset("elastix-bspline").stages]
        chains["elastix-affine preset"] = elastix_affine
        chains["elastix-bspline preset (affine -> bspline)"] = elastix_bspline
        # retina-2d's recipe through elastix: affine, then a B-spline on the same 48 mm mesh
        chains["elastix affine -> bspline 48 mm"] = [
            elastix_affine[0],
            Stage("elastix-bspline", {**elastix_bspline[-1].parameters, "grid_spacing_mm": 48.0}),
        ]
    rows = []
    with plugin_on_path(PLUGINS / "regviewer-tvl1"), plugin_on_path(PLUGINS / "regviewer-stn"):
        registry = build_registry(entries)
        assert not registry.errors, registry.errors
        for label, chain in chains.items():
            started = time.perf_counter()
            if chain:
                request = Request(fixed, moving, fixed_mask=mask)
                if label == "retina-2d, no mask":
                    request = Request(fixed, moving)
                elif label.startswith("retina-2d, preset's automatic"):  # what RunSession does for the preset
                    kind = get_preset("retina-2d").mask
                    request = Request(
                        fixed, moving, fixed_mask=automatic_mask(fixed, kind), moving_mask=automatic_mask(moving, kind)
                    )
                result = run_chain(chain, request, registry=registry)
                found = result.transform.transform_points(points)
            else:
                found = points
            error = np.linalg.norm(found - expected, axis=1)
            rows.append((label, error.mean(), np.percentile(error, 95), error.max(), time.perf_counter() - started))
    if not _has_elastix():
        print("elastix rows not run: itk-elastix is not installed (pip install 'regviewer[elastix]')")
    print(f"load average (1 min) {started_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"fundus pair {size} x {size} px (skimage.data.retina), green channel, FOV mask; error in pixels")
    print(f"{'method':44} {'mean':>7} {'p95':>7} {'max':>7} {'time s':>7}")
    for label, mean, p95, largest, seconds in rows:
        print(f"{label:44} {mean:7.2f} {p95:7.2f} {largest:7.2f} {seconds:7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 384)
