"""torch_backend.cubic: the field grid read as cubic B-spline control points, on grids and at points."""

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from regviewer.registration.torch_backend import cubic


def _grid_points(shape):
    axes = [torch.linspace(-1, 1, n, dtype=torch.float64) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))


@pytest.mark.parametrize(("coarse", "fine"), [((6, 7, 8), (11, 13, 15)), ((5, 9), (17, 9)), ((2, 3, 4), (5, 5, 5))])
def test_a_finer_grid_and_scattered_points_read_the_same_spline(coarse, fine):
    grid = torch.rand(1, 2, *coarse, dtype=torch.float64)
    on_grid = cubic.upsample(grid, fine).reshape(2, -1)
    at_points = cubic.read(grid, _grid_points(fine), "cubic")
    torch.testing.assert_close(at_points, on_grid, rtol=0, atol=1e-12)


def test_a_linear_field_is_reproduced_exactly_up_to_the_edges():
    coarse, fine = (6, 7, 8), (11, 13, 15)
    nodes = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in coarse], indexing="ij"))
    field = (nodes * torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64).view(3, 1, 1, 1)).sum(0, keepdim=True)
    expected = torch.stack(
        torch.meshgrid(*[torch.linspace(0, n - 1, m, dtype=torch.float64) for n, m in zip(coarse, fine)], indexing="ij")
    )
    expected = (expected * torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64).view(3, 1, 1, 1)).sum(0, keepdim=True)
    torch.testing.assert_close(cubic.upsample(field[None], fine)[0], expected, rtol=0, atol=1e-12)


def test_interior_values_match_scipy_uniform_cubic_bspline():
    coefficients = np.random.default_rng(0).random(9)
    # knots -3, -2, ...: scipy's basis j spans [j - 3, j + 1], centred on j - 1, where cubic puts node j
    knots = np.arange(-3, len(coefficients) + 1, dtype=float)
    spline = BSpline(knots, coefficients, 3)
    positions = np.linspace(1.0, len(coefficients) - 2.0, 29)  # interior: no edge rule involved
    expected = spline(positions - 1.0)
    grid = torch.from_numpy(coefficients).view(1, 1, -1)
    got = cubic.at_points(grid, torch.from_numpy(positions)[:, None]).numpy()[0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_point_past_the_grid_reads_its_edge_and_gradients_flow():
    grid = torch.rand(1, 3, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    inside = torch.tensor([[1.0, 1.0, 1.0], [0.2, -0.4, 0.9]], dtype=torch.float64)
    outside = inside * torch.tensor([1.5, 1.5, 1.5], dtype=torch.float64)
    torch.testing.assert_close(
        cubic.read(grid, outside[:1], "cubic"), cubic.read(grid, inside[:1], "cubic"), rtol=0, atol=1e-12
    )
    assert torch.autograd.gradcheck(lambda g: cubic.read(g, inside, "cubic"), (grid,))


def test_linear_reading_is_the_engines_resize_and_grid_sample():
    from regviewer.registration.torch_backend import ops

    grid = torch.rand(1, 3, 4, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(cubic.expand(grid, (7, 9, 11), "linear"), ops.resize(grid, (7, 9, 11)))
    points = _grid_points((7, 9, 11))
    torch.testing.assert_close(cubic.read(grid, points, "linear"), ops.resize(grid, (7, 9, 11)).reshape(3, -1))


def test_the_coarse_and_the_full_resolution_result_agree_at_the_nodes():
    """A preview (the field on its own grid, read linearly by ITK) and the final result (the spline on the
    fixed grid) map every node of the field's grid to the same point."""
    from regviewer.core.image import Image
    from regviewer.registration.torch_backend import frames
    from regviewer.registration.torch_backend.instance import InstanceOptimiser, Problem, Settings

    image = Image.from_array(np.zeros((13, 15, 16), np.float32), spacing=(1.2, 0.9, 1.0))
    tensor = torch.zeros(1, 1, 13, 15, 16)
    problem = Problem(tensor, tensor, image.geometry, image.geometry, np.eye(4))
    optimiser = InstanceOptimiser(problem, Settings(field_interpolation="cubic"), lambda *a: None, lambda: False)
    optimiser.state.field_mm = torch.randn(1, 3, 5, 8, 6)  # 13 -> 5 nodes: every 3rd voxel along z, etc.
    coarse = optimiser.current_transform(full_resolution=False)
    full = optimiser.current_transform(full_resolution=True)
    nodes = frames.level_geometry(image.geometry, (5, 8, 6))
    index = np.stack(np.meshgrid(*[np.arange(n) for n in (6, 8, 5)], indexing="ij"), -1).reshape(-1, 3)  # (x, y, z)
    points = np.array([nodes.index_to_physical(i.astype(float)) for i in index])
    np.testing.assert_allclose(coarse.transform_points(points), full.transform_points(points), atol=1e-4)
    assert not np.allclose(coarse.transform_points(points), points, atol=1e-3)  # the field does move them
