"""torch_backend.ops: the spatial transformer against core.resample, scaling and squaring, losses, conversions."""

import numpy as np
import pytest
import torch
from helpers import rotation
from scipy.ndimage import gaussian_filter

from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.resample import resample_image
from regviewer.registration.torch_backend import frames, ops


def _smooth_field(shape, max_voxels, sigma, seed=0):
    """A smooth random displacement [1, ndim, *shape] (voxels) with max |u| = max_voxels."""
    rng = np.random.default_rng(seed)
    components = [gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect") for _ in shape]
    field = np.stack(components)
    field *= max_voxels / np.linalg.norm(field, axis=0).max()
    return torch.from_numpy(field)[None]


def _smooth_image(shape, seed=1):
    image = gaussian_filter(np.random.default_rng(seed).random(shape), 2.0)
    return (image - image.min()) / (image.max() - image.min())


@pytest.mark.parametrize("ndim", [2, 3])
def test_warp_agrees_with_core_resample(ndim):
    """The same field, applied by torch (voxels) and by SimpleITK (mm, through displacement_to_transform)."""
    shape = (24, 28, 32)[-ndim:]
    spacing = (1.3, 0.8, 1.7)[:ndim]
    direction = rotation((10.0, -5.0, 20.0)) if ndim == 3 else rotation(15.0)
    image = Image.from_array(_smooth_image(shape), spacing=spacing, origin=(5.0, -3.0, 2.0)[:ndim], direction=direction)
    displacement = _smooth_field(shape, 3.0, 3.0)
    warped_torch = ops.warp(torch.from_numpy(image.array)[None, None], displacement)[0, 0].numpy()
    transform = ops.displacement_to_transform(displacement, image.geometry)
    warped_sitk = resample_image(image, image.geometry, transform, "linear").array
    # Compare where x + u(x) is inside the grid (the two differ only in how they pad outside it).
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    target = grid + displacement[0].numpy()
    inside = np.all((target >= 0.01) & (target <= np.array(shape).reshape((-1,) + (1,) * ndim) - 1.01), axis=0)
    assert inside.mean() > 0.7
    difference = np.abs(warped_torch - warped_sitk)[inside]
    print(f"{ndim}D: max |torch - sitk| = {difference.max():.2e} over {inside.sum()} voxels")
    assert difference.max() < 1e-4


def test_warp_moves_by_whole_voxels_along_array_axes():
    image = torch.rand(1, 1, 6, 7, 8, dtype=torch.float64)
    for axis in range(3):
        shift = torch.zeros(1, 3, 6, 7, 8, dtype=torch.float64)
        shift[:, axis] = 1.0
        moved = ops.warp(image, shift)
        expected = image.narrow(2 + axis, 1, image.shape[2 + axis] - 1)
        assert torch.allclose(moved.narrow(2 + axis, 0, image.shape[2 + axis] - 1), expected)
        assert float(moved.narrow(2 + axis, image.shape[2 + axis] - 1, 1).abs().max()) < 1e-12  # zero padding outside


def test_nearest_warp_keeps_label_values():
    labels = torch.randint(0, 5, (1, 1, 10, 11, 12)).double()
    moved = ops.warp(labels, _smooth_field((10, 11, 12), 2.0, 2.0), mode="nearest")
    assert set(moved.unique().tolist()) <= set(range(5))


def test_svf_integration_of_large_smooth_velocity_has_no_folds():
    """A velocity whose plain displacement folds badly still gives a diffeomorphism once integrated."""
    velocity = _smooth_field((40, 40, 40), 12.0, 4.0, seed=3)
    plain = ops.jacobian_determinant_torch(velocity)
    integrated = ops.integrate_velocity(velocity, steps=7)
    determinant = ops.jacobian_determinant_torch(integrated)
    inner = (slice(None), slice(2, -2), slice(2, -2), slice(2, -2))
    print(f"min det: plain field {plain[inner].min():.3f}, integrated {determinant[inner].min():.3f}")
    assert plain[inner].min() < 0  # the test is meaningful: used as a displacement it would fold
    assert determinant[inner].min() > 0
    assert float(integrated.abs().max()) > 6.0  # and the motion is still large


def test_integration_of_a_constant_velocity_is_a_translation():
    velocity = torch.zeros(1, 3, 12, 12, 12, dtype=torch.float64)
    velocity[:, 1] = 1.5
    displacement = ops.integrate_velocity(velocity, steps=5)
    assert torch.allclose(displacement, velocity, atol=1e-9)


def test_compose_adds_translations_and_inverts_small_fields():
    first = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
    second = torch.zeros_like(first)
    first[:, 0], second[:, 1] = 1.0, -2.0
    assert torch.allclose(ops.compose(first, second), first + second)
    velocity = _smooth_field((32, 32), 2.0, 4.0)
    forward, backward = ops.integrate_velocity(velocity), ops.integrate_velocity(-velocity)
    residual = ops.compose(forward, backward)[:, :, 4:-4, 4:-4]
    assert float(residual.abs().max()) < 0.05  # exp(v) o exp(-v) = id


def test_resize_and_rescale_keep_voxel_centres():
    field = _smooth_field((10, 12, 14), 2.0, 2.0)
    finer = ops.rescale_displacement(field, (19, 23, 27))
    back = ops.rescale_displacement(finer, (10, 12, 14))
    assert torch.allclose(back, field, atol=1e-6)  # corners stay on corners: no drift
    assert ops.level_shape((160, 192, 224), 2) == (81, 97, 113)
    coarse = ops.downsample(torch.rand(1, 1, 33, 35, 37), 4).shape[2:]
    assert all(abs(n - (m - 1) / 4 - 1) <= 1 for n, m in zip(coarse, (33, 35, 37)))


def test_lncc_is_zero_for_linearly_related_images_and_statistics_match():
    a = torch.rand(1, 1, 20, 22, 24, dtype=torch.float64)
    assert float(ops.lncc_loss(a, 3 * a, 5)) < 1e-6  # (an offset would show at the zero-padded borders)
    b = torch.rand_like(a)
    assert float(ops.lncc_loss(a, b, 5)) > 0.5
    with_statistics = ops.lncc_loss(a, b, 5, a_statistics=ops.lncc_statistics(a, 5))
    assert torch.allclose(with_statistics, ops.lncc_loss(a, b, 5))


def test_box_sum_matches_direct_sum():
    x = torch.rand(1, 1, 9, 10, 11, dtype=torch.float64)
    boxed = ops.box_sum(x, 3)
    assert torch.isclose(boxed[0, 0, 4, 5, 6], x[0, 0, 3:6, 4:7, 5:8].sum())
    assert torch.isclose(boxed[0, 0, 0, 0, 0], x[0, 0, :2, :2, :2].sum())  # zeros outside


@pytest.mark.parametrize("shape", [(1, 2, 7, 12), (1, 3, 1, 8, 9), (1, 1, 6, 7, 8)])
def test_box_sum_matches_scipy_in_2d_3d_with_channels_and_thin_axes(shape):
    from scipy.ndimage import uniform_filter

    x = torch.rand(*shape, dtype=torch.float64)
    window = 5
    ndim = len(shape) - 2
    expected = np.stack(
        [
            uniform_filter(x[0, c].numpy(), size=[window if n > 1 else 1 for n in shape[2:]], mode="constant")
            * window ** sum(n > 1 for n in shape[2:])
            for c in range(shape[1])
        ]
    )
    assert ndim in (2, 3)
    np.testing.assert_allclose(ops.box_sum(x, window)[0].numpy(), expected, atol=1e-9)


def test_mse_nmi_and_dice_losses():
    a = torch.from_numpy(_smooth_image((30, 30))).float()[None, None]
    assert float(ops.mse_loss(a, a)) == 0
    shuffled = a.flatten()[torch.randperm(a.numel())].reshape(a.shape)
    assert float(ops.nmi_loss(a, 1 - a)) < float(ops.nmi_loss(a, shuffled)) - 0.2  # NMI sees any monotone map
    onehot = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 20, 20)), 3).permute(0, 3, 1, 2).float()
    assert float(ops.dice_loss(onehot, onehot)) < 1e-6
    assert float(ops.dice_loss(onehot, onehot.roll(1, dims=1))) > 0.9


def test_regularisers_see_the_right_derivatives():
    z, y, x = torch.meshgrid(*[torch.arange(10.0)] * 3, indexing="ij")
    translation = torch.ones(1, 3, 10, 10, 10)
    linear = torch.stack([0.1 * x, 0.2 * z, 0.0 * y])[None]
    assert float(ops.diffusion_loss(translation)) == 0 and float(ops.bending_loss(translation)) == 0
    assert float(ops.diffusion_loss(linear)) > 0
    assert float(ops.bending_loss(linear)) < 1e-10  # affine motion bends nothing
    curved = (0.01 * x**2)[None, None].expand(1, 3, 10, 10, 10)
    assert float(ops.bending_loss(curved)) > 0
    # With the grid spacing given, the energy no longer depends on the grid's resolution.
    assert torch.isclose(ops.diffusion_loss(2 * linear, spacing=(2.0, 2.0, 2.0)), ops.diffusion_loss(linear))


def test_displacement_to_transform_follows_spacing_and_direction():
    direction = rotation((0.0, 0.0, 30.0))
    image = Image.from_array(np.zeros((4, 5, 6)), spacing=(2.0, 3.0, 4.0), origin=(1.0, 2.0, 3.0), direction=direction)
    field = np.zeros((3, 4, 5, 6))
    field[2] = 1.0  # one voxel along x (array axis 2)
    transform = ops.displacement_to_transform(field, image.geometry)
    point = image.index_to_physical(np.array([2.0, 2.0, 1.0]))
    assert np.allclose(transform.transform_points(point) - point, direction[:, 0] * 2.0)
    with pytest.raises(RegViewerError):
        ops.displacement_to_transform(np.zeros((3, 4, 5, 7)), image.geometry)


def test_frames_round_trip_points():
    image = Image.from_array(
        np.zeros((7, 8, 9)), spacing=(0.5, 1.5, 2.0), origin=(-4.0, 2.0, 9.0), direction=rotation((5.0, 10.0, -20.0))
    )
    corner = image.index_to_physical(np.array([8.0, 7.0, 6.0]))  # last voxel: normalised (1, 1, 1)
    assert np.allclose(frames.points_to_normalised(corner[None], image.geometry), 1.0)
    assert np.allclose(frames.points_to_normalised(image.origin[None], image.geometry), -1.0)


def test_device_choice():
    assert ops.pick_device("cpu").type == "cpu"
    assert ops.pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(RegViewerError, match="cuda"):
            ops.pick_device("cuda")
    with pytest.raises(RegViewerError):
        ops.pick_device("tpu")


def test_image_to_tensor_normalises_robustly():
    array = np.linspace(0, 1000, 1000).reshape(10, 10, 10)
    tensor = ops.image_to_tensor(array, normalise=True)
    assert tensor.shape == (1, 1, 10, 10, 10) and tensor.dtype == torch.float32
    assert float(tensor.min()) == 0.0 and float(tensor.max()) == 1.0


@pytest.mark.parametrize("shape", [(1, 2, 7, 12), (1, 1, 1, 8, 9), (1, 1, 6, 7, 8)])
def test_binomial_blur_matches_scipy_with_edges_replicated(shape):
    from scipy.ndimage import correlate1d

    x = torch.rand(*shape, dtype=torch.float64)
    expected = x[0].numpy()
    for axis in range(1, expected.ndim):
        expected = correlate1d(expected, [0.25, 0.5, 0.25], axis=axis, mode="nearest")
    np.testing.assert_allclose(ops.binomial_blur(x)[0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 2, 5, 6), (1, 1, 4, 5, 6), (1, 1, 1, 5, 6)])
def test_box_sum_gradient_is_exact(shape):
    x = torch.rand(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ops.box_sum(t, 3), (x,))


@pytest.mark.parametrize("full, coarse", [((9, 9), (5, 5)), ((7, 10, 6), (3, 4, 6))])
def test_label_fractions_are_each_labels_share_of_a_coarse_voxel(full, coarse):
    rng = np.random.default_rng(3)
    labels = rng.choice([0, 2, 5, 9], size=full, p=[0.55, 0.3, 0.1, 0.05])
    values = [2, 5, 9]
    fractions = ops.label_fractions(torch.from_numpy(labels)[None, None], torch.tensor(values), coarse)
    assert fractions.shape == (1, 3, *coarse)
    # brute force: fine voxel j belongs to coarse voxel floor(j (m - 1) / (n - 1) + 1/2), centres aligned at the corners
    owner = np.stack(
        np.meshgrid(
            *[np.floor(np.arange(n) * ((m - 1) / (n - 1)) + 0.5).astype(int) for n, m in zip(full, coarse)],
            indexing="ij",
        )
    )
    for index in np.ndindex(*coarse):
        members = np.all(owner == np.array(index).reshape((-1,) + (1,) * len(full)), axis=0)
        for channel, value in enumerate(values):
            expected = float(np.mean(labels[members] == value))
            assert fractions[(0, channel) + index].item() == pytest.approx(expected, abs=1e-6)
    same = ops.label_fractions(torch.from_numpy(labels)[None, None], torch.tensor(values), full)
    for channel, value in enumerate(values):
        assert np.array_equal(same[0, channel].numpy(), (labels == value).astype(np.float32))


def test_a_dense_step_reads_a_random_subset_of_many_labels_the_same_in_both_images():
    from regviewer.registration.torch_backend.dense_level import LABELS_PER_STEP, label_subset

    count = LABELS_PER_STEP + 5
    fixed = torch.arange(count, dtype=torch.float32).view(1, count, 1, 1).expand(1, count, 3, 3).contiguous()
    draws = []
    for _ in range(2):
        chosen_fixed, chosen_moving = label_subset((fixed, fixed + 100), torch.Generator().manual_seed(2))
        assert chosen_fixed.shape == (1, LABELS_PER_STEP, 3, 3)
        channels = chosen_fixed[0, :, 0, 0]
        assert len(set(channels.tolist())) == LABELS_PER_STEP  # distinct labels
        assert torch.equal(chosen_moving[0, :, 0, 0], channels + 100)  # the same labels in both images
        draws.append(channels.tolist())
    assert draws[0] == draws[1]  # the same draw run after run
    few = fixed[:, :LABELS_PER_STEP]
    assert label_subset((few, few), torch.Generator())[0].shape[1] == LABELS_PER_STEP  # few labels: all of them
