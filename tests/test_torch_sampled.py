"""torch_backend.sampled: the patch LNCC against ops.lncc_loss, its gradient, the candidate voxels, and the
full-resolution refinement recovering a known shift."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, shift

from regviewer.core.image import Image
from regviewer.registration.base import Request
from regviewer.registration.torch_backend import ops, sampled
from regviewer.registration.torch_opt import TorchDeformableMethod


def _smooth(shape, sigma=1.5, seed=0):
    image = gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return (image - image.min()) / (image.max() - image.min())


@pytest.mark.parametrize("ndim,window", [(3, 5), (3, 3), (2, 7)])
def test_patch_lncc_matches_dense_lncc_on_interior_voxels(ndim, window):
    """Patches around every interior voxel give the same loss as ops.lncc_loss masked to those voxels."""
    shape = (14, 15, 16)[-ndim:]
    a = torch.from_numpy(_smooth(shape, seed=1)).float()[None, None]
    b = torch.from_numpy(_smooth(shape, seed=2)).float()[None, None]
    radius = window // 2
    mask = torch.zeros_like(a)
    interior = (slice(None), slice(None)) + tuple(slice(radius, n - radius) for n in shape)
    mask[interior] = 1
    dense = ops.lncc_loss(a, b, window, mask)
    index = torch.nonzero(mask[0, 0] > 0)
    patch = index[:, None, :] + sampled.patch_offsets(window, ndim)[None]
    strides = torch.tensor([int(np.prod(shape[i + 1 :])) for i in range(ndim)])
    flat = (patch * strides).sum(dim=-1)
    value = sampled.patch_lncc_loss(a.reshape(-1)[flat], b.reshape(-1)[flat])
    assert abs(float(value) - float(dense)) < 1e-5
    assert 0.0 < float(value) < 1.0


def test_patch_lncc_gradient():
    torch.manual_seed(0)
    a = torch.rand(6, 27, dtype=torch.float64)
    b = torch.rand(6, 27, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sampled.patch_lncc_loss(a, x), (b,))
    same = sampled.patch_lncc_loss(a, 2 * a + 1)
    assert abs(float(same)) < 1e-6  # perfectly correlated patches


def test_patch_offsets_cover_the_window():
    offsets = sampled.patch_offsets(5, 3)
    assert offsets.shape == (125, 3)
    assert int(offsets.min()) == -2 and int(offsets.max()) == 2
    assert len({tuple(o) for o in offsets.tolist()}) == 125


def test_a_patch_stride_keeps_every_other_voxel_of_the_same_window():
    sparse = sampled.patch_offsets(5, 3, stride=2)
    assert sparse.shape == (27, 3) and set(sparse.unique().tolist()) == {-2, 0, 2}
    assert sampled.patch_offsets(5, 2, stride=9).shape == (9, 2)  # never fewer than 3 points along an axis
    assert torch.equal(sampled.patch_offsets(3, 3, stride=2), sampled.patch_offsets(3, 3))


def test_candidate_voxels_skip_constant_neighbourhoods():
    image = torch.zeros(1, 1, 12, 12, 12)
    image[0, 0, 5:7, 5:7, 5:7] = 1.0
    chosen = sampled.candidate_voxels(image, 3)
    expected = set()
    for z in range(12):
        for y in range(12):
            for x in range(12):
                block = image[0, 0, max(0, z - 1) : z + 2, max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
                if float(block.max() - block.min()) > 0:
                    expected.add((z * 12 + y) * 12 + x)
    assert set(chosen.tolist()) == expected
    mask = torch.zeros_like(image)
    mask[..., :6] = 1
    masked = sampled.candidate_voxels(image, 3, mask)
    assert set(masked.tolist()) == {i for i in expected if i % 12 < 6}


def test_candidate_voxels_match_a_brute_force_window_in_2d():
    generator = np.random.default_rng(4)
    image = np.zeros((20, 17), dtype=np.float32)
    image[3:9, 2:6] = 1.0
    image[12:, 10:] = generator.random((8, 7))
    chosen = sampled.candidate_voxels(torch.from_numpy(image)[None, None], 5)
    expected = {
        y * 17 + x
        for y in range(20)
        for x in range(17)
        if np.ptp(image[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]) > 0
    }
    assert set(chosen.tolist()) == expected


def _shifted_pair(offset_voxels):
    fixed = _smooth((40, 44, 48), sigma=2.0, seed=3).astype(np.float32)
    moving = shift(fixed, [-o for o in offset_voxels], order=3, mode="nearest").astype(np.float32)
    spacing = (1.0, 1.0, 1.0)
    return Image.from_array(fixed, spacing=spacing), Image.from_array(moving, spacing=spacing)


@pytest.mark.parametrize(
    ("stride", "samples", "interpolation"), [(1, 1024, "linear"), (2, 2048, "linear"), (2, 2048, "cubic")]
)
def test_sampled_refinement_recovers_a_known_shift(stride, samples, interpolation):
    """No affine, no dense steps: the sampled level alone finds a sub-voxel-accurate shift of about 1 mm,
    with whole patches or with every other voxel of them (``patch_stride`` 2), the field read linearly or
    as a cubic B-spline.

    The moving image reads the fixed one at x + offset, offset (z, y, x) = (0.8, -0.6, 0.5) voxels: the
    content of a fixed point x sits at x - offset in the moving image, so the map must move x by
    -offset (array-axis order, mm).
    """
    offset = (0.8, -0.6, 0.5)
    fixed, moving = _shifted_pair(offset)
    parameters = {
        "affine": False,
        "shrink_factors": "1",
        "iterations": "0",
        "field_shrink": 4,
        "sampled_iterations": 120,
        "samples": samples,
        "patch_stride": stride,
        "sampled_learning_rate": 0.05,
        "field_interpolation": interpolation,
        "regularisation_weight": 1.0,
        "device": "cpu",
        "threads": 1,
    }
    events = []
    result = TorchDeformableMethod().run(Request(fixed, moving, parameters), events.append)
    assert result.status == "completed"
    assert any(e.stage.endswith("sampled") for e in events)
    centre = fixed.index_to_physical((np.array(fixed.geometry.size) - 1) / 2.0)
    moved = result.transform.transform_points(centre[None])[0] - centre  # (x, y, z) mm
    np.testing.assert_allclose(moved[::-1], [-o for o in offset], atol=0.15)


def test_sampled_level_runs_with_a_label_term_and_is_skipped_with_nmi():
    from regviewer.registration.torch_backend.instance import Problem, Settings

    image = torch.zeros(1, 1, 4, 4, 4)
    problem = Problem(image, image, None, None, np.eye(4), fixed_labels=image, moving_labels=image, label_values=(1,))
    assert sampled.usable(Settings(sampled_iterations=10), problem)
    assert sampled.usable(Settings(sampled_iterations=10, label_weight=1.0), problem)  # the images alone refine
    assert not sampled.usable(Settings(sampled_iterations=10, similarity="nmi"), problem)
    assert not sampled.usable(Settings(sampled_iterations=0), problem)


def test_drawn_patches_and_moved_samples_match_direct_indexing():
    """Fixed patches are the image around each drawn voxel (zeros outside); with no motion the moving
    patches read the same voxels, so a moving image equal to the fixed one has a patch loss of 0."""
    from regviewer.registration.torch_backend.instance import InstanceOptimiser, Problem, Settings

    array = _smooth((12, 13, 14), seed=5).astype(np.float32)
    image = Image.from_array(array, spacing=(1.2, 0.9, 1.0))
    tensor = torch.from_numpy(array)[None, None]
    problem = Problem(tensor, tensor, image.geometry, image.geometry, np.eye(4))
    optimiser = InstanceOptimiser(
        problem, Settings(sampled_iterations=1, lncc_window=5), lambda *a: None, lambda: False
    )
    matrix = optimiser._fixed_to_moving(optimiser._current_affine_tensor()).float()
    level = sampled.SampledLevel(optimiser, (6, 7, 7), matrix)
    index, patches = level.draw(64)
    padded = np.pad(array, 2)
    offsets = sampled.patch_offsets(5, 3).numpy()
    for voxel, patch in zip(index.numpy(), patches.numpy()):
        expected = [padded[tuple(voxel + 2 + o)] for o in offsets]
        np.testing.assert_allclose(patch, expected, rtol=0, atol=0)
    parameter = torch.zeros(1, 3, 6, 7, 7, requires_grad=True)
    value = level.loss_and_gradient(parameter)
    assert abs(value) < 1e-4


def test_field_spacing_in_mm_sets_the_field_shrink_from_the_finest_voxel():
    from regviewer.registration.base import resolve_parameters
    from regviewer.registration.torch_opt import _settings

    method = TorchDeformableMethod()
    assert _settings(resolve_parameters(method, {"field_shrink": 3}), (1.0, 1.0, 1.0)).field_shrink == 3
    eight_mm = resolve_parameters(method, {"field_spacing": 8.0, "field_shrink": 3})
    assert _settings(eight_mm, (1.0, 1.0, 1.0)).field_shrink == 8
    assert _settings(eight_mm, (2.0, 2.0, 2.0)).field_shrink == 4
    assert _settings(eight_mm, (0.4, 0.4, 2.5)).field_shrink == 20
    assert _settings(resolve_parameters(method, {"field_spacing": 0.1}), (2.0, 2.0, 2.0)).field_shrink == 1


def test_level_spacing_in_mm_sets_the_shrink_factors():
    array = _smooth((30, 30, 30), seed=7).astype(np.float32)
    fixed = Image.from_array(array, spacing=(2.0, 2.0, 2.0))
    parameters = {"affine": False, "level_spacing": "16,4", "iterations": "1,1", "device": "cpu", "threads": 1}
    result = TorchDeformableMethod().run(Request(fixed, fixed, parameters))
    assert result.status == "completed"
    assert tuple(result.parameters["shrink_factors"]) == (8, 2)
    default = TorchDeformableMethod().run(Request(fixed, fixed, {"affine": False, "iterations": "1,1", "threads": 1}))
    assert tuple(default.parameters["shrink_factors"]) == (4, 2)  # 0 = the shrink factors as given
    affine = TorchDeformableMethod().run(
        Request(
            fixed, fixed, {"affine_level_spacing": "4,2", "affine_iterations": 1, "iterations": "1,1", "threads": 1}
        )
    )
    assert tuple(affine.parameters["affine_shrink_factors"]) == (2, 1)
    assert tuple(default.parameters["affine_shrink_factors"]) == (4,)  # 0 = the affine shrink factors as given


def test_sampled_level_is_skipped_when_the_last_dense_level_ran_at_full_resolution():
    """A volume so small that every level stays whole: the dense level already optimised every voxel."""
    fixed, moving = _shifted_pair((0.5, 0.0, 0.0))
    parameters = {
        "affine": False,
        "shrink_factors": "1",
        "iterations": "5",
        "field_shrink": 4,
        "sampled_iterations": 5,
        "device": "cpu",
        "threads": 1,
    }
    events = []
    assert TorchDeformableMethod().run(Request(fixed, moving, parameters), events.append).status == "completed"
    assert not any(e.stage.endswith("sampled") for e in events)
    events.clear()
    large = Image.from_array(_smooth((56, 56, 56), sigma=2.0, seed=3).astype(np.float32))
    parameters["shrink_factors"] = "2"  # a half-resolution last level: the sampled level adds the full one
    assert TorchDeformableMethod().run(Request(large, large, parameters), events.append).status == "completed"
    assert any(e.stage.endswith("sampled") for e in events)
