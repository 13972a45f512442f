"""Registration hardening: chains after a B-spline, starts from a B-spline file, preflight checks, no leak."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from regviewer.cli.main import main
from regviewer.core.errors import InputMismatchError, InvalidImageError
from regviewer.core.evaluation import EvaluationData, before_after, displacement_field
from regviewer.core.image import Geometry, Image
from regviewer.core.io import write_image
from regviewer.core.io.transforms_io import read_transform
from regviewer.core.progress import CancelToken
from regviewer.core.transforms import BSplineTransform, CompositeTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain

FAST_BSPLINE = {
    "iterations": 3,
    "shrink_factors": (2, 1),
    "smoothing_sigmas": (1.0, 0.0),
    "samples": (800, 1500),
    "mesh_spacing_mm": 10.0,
}
FAST_AFFINE = {"iterations": 20, "shrink_factors": (2, 1), "smoothing_sigmas": (1.0, 0.0), "metric": "ncc"}


def _blob(shift: float = 0.0, origin=(0.0, 0.0, 0.0), name: str = "blob") -> Image:
    z, y, x = np.mgrid[0:24, 0:24, 0:24].astype(np.float32)
    array = 100 * np.exp(-((z - 12) ** 2 + (y - 11) ** 2 / 0.7 + (x - 12 - shift) ** 2) / 30)
    return Image(array.astype(np.float32), Geometry((24, 24, 24), (1.0, 1.0, 1.0), origin), name=name)


def _ncc(transform, fixed, moving) -> float:
    from regviewer.core.transforms import AffineTransform

    transform = transform or AffineTransform.identity(3)
    data = EvaluationData(fixed, moving)
    return before_after(transform, data, displacement_field(transform, data))["after"]["ncc"]


@pytest.mark.parametrize("chain", [("bspline", "affine"), ("bspline", "bspline"), ("bspline", "rigid")])
def test_stages_after_a_bspline_run_and_compose(chain):
    fixed, moving = _blob(0.0, name="fixed"), _blob(2.0, name="moving")
    stages = [Stage(name, FAST_BSPLINE if name == "bspline" else FAST_AFFINE) for name in chain]
    result = run_chain(stages, Request(fixed, moving))
    assert result.status == "completed"
    assert isinstance(result.transform, CompositeTransform)
    assert any(isinstance(part, BSplineTransform) for part in result.transform.transforms)
    first = run_chain(stages[:1], Request(fixed, moving)).transform
    # the second stage starts where the first ended (composition), and does not make it worse
    assert _ncc(result.transform, fixed, moving) >= _ncc(first, fixed, moving) - 0.02
    assert _ncc(result.transform, fixed, moving) > _ncc(None, fixed, moving)


def test_init_with_a_bspline_transform_file_via_the_cli(tmp_path, capsys):
    fixed, moving = write_image(_blob(0.0), tmp_path / "f.nii.gz"), write_image(_blob(2.0), tmp_path / "m.nii.gz")
    params = [f"--param={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in FAST_BSPLINE.items()]
    assert main(["register", str(fixed), str(moving), "-o", str(tmp_path / "a"), "--method", "bspline", *params]) == 0
    start = tmp_path / "a" / "transform.h5"
    for method in ("affine", "bspline"):
        out = tmp_path / f"b_{method}"
        extra = params if method == "bspline" else ["--param", "iterations=10"]
        assert (
            main(
                ["register", str(fixed), str(moving), "-o", str(out), "--method", method, "--init", str(start), *extra]
            )
            == 0
        )
        final = read_transform(out / "transform.h5")
        points = np.array([[12.0, 11.0, 12.0], [5.0, 6.0, 7.0]])
        # the result includes the start: it maps the points near where the start alone maps them
        assert np.max(np.abs(final.transform_points(points) - read_transform(start).transform_points(points))) < 3.0
    capsys.readouterr()


def test_images_that_do_not_overlap_are_refused_before_any_method_runs():
    fixed, far = _blob(0.0, name="fixed.nii.gz"), _blob(0.0, origin=(500.0, 0.0, 0.0), name="far.nii.gz")
    for stages in (
        [Stage("bspline", FAST_BSPLINE)],
        [Stage("affine", {**FAST_AFFINE, "initialization": "none"})],
        [Stage("demons")],
    ):
        with pytest.raises(InputMismatchError, match="fixed.nii.gz and .*far.nii.gz do not overlap"):
            run_chain(stages, Request(fixed, far))
    # a linear stage that aligns the image centres itself is allowed to start apart
    result = run_chain([Stage("affine", FAST_AFFINE)], Request(fixed, far))
    assert result.status == "completed"


def test_one_voxel_and_constant_images_are_refused_with_the_reason():
    good = _blob(name="good.nii.gz")
    tiny = Image(np.ones((1, 1, 1), np.float32), Geometry((1, 1, 1), (1, 1, 1), (0, 0, 0)), name="tiny.nii.gz")
    with pytest.raises(InvalidImageError, match="tiny.nii.gz.*too small") as raised:
        run_chain([Stage("affine")], Request(good, tiny))
    assert str(raised.value).count("tiny.nii.gz") == 1  # named once, not "tiny.nii.gz: the moving image tiny.nii.gz"
    flat = good.with_array(np.zeros(good.shape, np.float32), name="flat.nii.gz")
    with pytest.raises(InvalidImageError, match="flat.nii.gz.*constant") as raised:
        run_chain([Stage("bspline")], Request(flat, good))
    assert (
        str(raised.value)
        == "flat.nii.gz: the fixed image is constant (every voxel is 0): there is no structure to align"
    )


def test_a_finished_run_leaves_nothing_reachable_through_the_itk_callbacks():
    """The commands' closures held the method, the run history and the token in a cycle through C++."""
    fixed, moving = _blob(0.0), _blob(1.0)
    token = CancelToken()
    probe = weakref.ref(token)
    run_chain([Stage("bspline", FAST_BSPLINE)], Request(fixed, moving), lambda event: None, token)
    del token
    gc.collect()
    assert probe() is None
