"""The torch optimiser never ends silently worse than it started: thin volumes, diverging affines, best iterates."""

import numpy as np
import pytest

from regviewer.core.image import Geometry, Image
from regviewer.core.transforms import AffineTransform
from regviewer.registration.torch_backend import instance, ops


def test_levels_shrink_per_axis_in_mm_and_keep_thin_axes():
    # A 32-slice MR: 3 mm slices, 0.5 mm in plane (array order z, y, x).
    shape, spacing = (32, 256, 256), (3.0, 0.5, 0.5)
    factors = ops.axis_shrinks(shape, spacing, 4)
    assert factors == (1.0, 4.0, 4.0)  # 2 mm target: the slices are already coarser, they stay whole
    assert ops.level_shape_axes(shape, factors) == (32, 65, 65)
    # At 8x (4 mm) the slice axis would drop to 24 voxels at most, never to 8.
    assert ops.level_shape_axes(shape, ops.axis_shrinks(shape, spacing, 8))[0] == 24
    # A small isotropic volume (prostate MR 41 x 59 x 44) keeps its resolution (as before per-axis levels).
    small = ops.level_shape_axes((41, 59, 44), ops.axis_shrinks((41, 59, 44), (0.4,) * 3, 4))
    assert small == (41, 59, 44)  # 4x would leave 11 to 15 voxels: such a volume is not shrunk
    # Large isotropic brains are unaffected: the plain pyramid.
    assert ops.level_shape_axes((160, 192, 224), ops.axis_shrinks((160, 192, 224), (1.0,) * 3, 4)) == ops.level_shape(
        (160, 192, 224), 4
    )


def test_per_axis_downsampling_smooths_only_the_shrunk_axes():
    import torch

    image = torch.zeros(1, 1, 8, 40, 40)
    image[0, 0, 4, 20, 20] = 1.0
    small = ops.downsample_axes(image, (1.0, 2.0, 2.0))
    assert tuple(small.shape[2:]) == (8, 21, 21)
    profile = small[0, 0, :, 10, 10]
    assert profile[4] > 0 and float(profile[[0, 1, 2, 6, 7]].abs().max()) < 1e-6  # no smoothing across slices


def _optimiser(settings: instance.Settings | None = None) -> instance.InstanceOptimiser:

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:20, 0:28, 0:28].astype(np.float32)
    blob = np.exp(-((z - 10) ** 2 + (y - 14) ** 2 + (x - 13) ** 2) / 30.0) + 0.05 * rng.random(
        (20, 28, 28), dtype=np.float32
    )
    moved = np.exp(-((z - 10) ** 2 + (y - 14) ** 2 + (x - 15) ** 2) / 30.0) + 0.05 * rng.random(
        (20, 28, 28), dtype=np.float32
    )
    geometry = Geometry((20, 28, 28), np.array([1.0, 1.0, 2.0]), np.zeros(3), np.eye(3))
    problem = instance.Problem(
        fixed=ops.image_to_tensor(Image(blob, geometry)),
        moving=ops.image_to_tensor(Image(moved, geometry)),
        fixed_geometry=geometry,
        moving_geometry=geometry,
        initial_matrix=np.eye(4),
    )
    settings = settings or instance.Settings(
        shrink_factors=(2, 1), iterations=(20, 10), affine_shrink_factors=(2,), affine_iterations=20
    )
    return instance.InstanceOptimiser(problem, settings, lambda *args: None, lambda: False)


def test_a_diverged_affine_falls_back_to_its_start_and_says_so():
    optimiser = _optimiser()
    optimiser.state.affine = AffineTransform.from_homogeneous(np.diag([-1.0, 1.0, 1.0, 1.0]))  # a mirror
    optimiser._reject_diverged_affine()
    assert np.allclose(optimiser.state.affine.homogeneous, optimiser.start_affine().homogeneous)
    assert optimiser.state.warnings and "diverged" in optimiser.state.warnings[0]


def test_a_result_worse_than_the_start_is_replaced_by_the_start_with_a_warning():
    import torch

    optimiser = _optimiser()
    state = optimiser.run()
    assert not state.warnings, state.warnings  # a plain shift: the run improves and says nothing
    assert state.values["final"] < state.values["start"]
    # Now pretend the dense stage wrecked the result: a large random field.
    optimiser.state.field_mm = 6.0 * torch.randn(
        1, 3, *state.field_mm.shape[2:], generator=torch.Generator().manual_seed(1)
    )
    optimiser._keep_the_best(optimiser.start_affine(), state.affine)
    assert optimiser.state.field_mm is None
    assert any("ended worse than" in warning for warning in optimiser.state.warnings)


@pytest.mark.parametrize("similarity", ["lncc", "nmi"])
def test_the_kept_result_is_never_worse_than_the_start_by_the_measure(similarity):
    settings = instance.Settings(
        similarity=similarity,
        shrink_factors=(2, 1),
        iterations=(15, 5),
        learning_rate=50.0,
        affine_shrink_factors=(2,),
        affine_iterations=10,
    )
    state = _optimiser(settings).run()  # an absurd step: the iterates jump around
    assert state.values
    kept = min(state.values.values()) if state.warnings else state.values["final"]
    assert kept <= state.values["start"] + 1e-4 * max(1.0, abs(state.values["start"]))


@pytest.mark.slow
def test_torch_preset_improves_the_prostate_mr_to_ultrasound_gland_dice(shared_data):
    """Prostate test pair 25 (MR 44 x 59 x 41 -> ultrasound 64 x 64 x 60): `deformable-torch`, image only, gland Dice up, no folds.

    With 24-voxel coarse levels this pair fell to Dice 0.005; small volumes now keep their resolution.

    Both images are taken to cover the same field of view (their headers put both at one origin with
    0.4 mm voxels, where the glands do not even overlap), as tests/benchmarks/bench_torch.py does.
    """
    from regviewer.core.deformation import jacobian_determinant, jacobian_stats
    from regviewer.core.io import read_image
    from regviewer.core.metrics import dice_per_label
    from regviewer.core.resample import resample_image
    from regviewer.core.transforms import to_displacement_field
    from regviewer.registration.base import Request
    from regviewer.registration.pipeline import run_chain
    from regviewer.registration.presets import get_preset

    folder = shared_data / "prostate_cohort" / "test"

    def on_extent(image, reference):
        ratio = (np.array(reference.geometry.size) - 1) / (np.array(image.geometry.size) - 1)
        geometry = Geometry(
            image.shape, reference.geometry.spacing * ratio, reference.geometry.origin, reference.geometry.direction
        )
        return Image(image.array, geometry, is_label=image.is_label)

    name = "case000025.nii.gz"
    fixed = read_image(folder / "fixed_images" / name)
    moving = on_extent(read_image(folder / "moving_images" / name), fixed)
    fixed_gland = read_image(folder / "fixed_labels" / name, is_label=True, channel=0)
    moving_gland = on_extent(read_image(folder / "moving_labels" / name, is_label=True, channel=0), fixed)

    def dice(transform) -> float:
        warped = resample_image(moving_gland, fixed.geometry, transform, "label").array
        return dice_per_label(np.asarray(fixed_gland.array) > 0, warped > 0, [1])[1]

    result = run_chain(get_preset("deformable-torch").stages, Request(fixed, moving))
    field = to_displacement_field(result.transform, fixed.geometry)
    folds = jacobian_stats(jacobian_determinant(field.displacement, fixed.geometry))["folded_count"]
    before, after = dice(None), dice(result.transform)
    print(f"gland Dice {before:.3f} -> {after:.3f}, folds {folds}\n" + "\n".join(result.log))
    assert after > before + 0.02
    assert folds == 0
