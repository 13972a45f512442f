"""The "network" method: model grid, safe loading, registry run with progress / cancel, bundled models.

The bundled models are checked on pairs they never saw in training: 2D, the real inter-subject
pairs r64 -> r16 and r85 -> r16 (r16, r64, r85 are not in the training list); 3D, brain3d warped
by a known deformation drawn here (the training only used its own random draws), scored with the
30 labels (which the training never used).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers import about_centre, rotation, smooth_random_field
from skimage.filters import threshold_multiotsu

from regviewer.core.errors import RegViewerError
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image
from regviewer.core.metrics import dice_per_label
from regviewer.core.progress import CancelToken
from regviewer.core.resample import resample_image
from regviewer.core.transforms import AffineTransform, CompositeTransform, DisplacementFieldTransform
from regviewer.paths import MODELS
from regviewer.registration.base import ParameterError, Request, resolve_parameters
from regviewer.registration.network import BUNDLED
from regviewer.registration.network_grid import model_grid, to_model_grid
from regviewer.registration.registry import get_method
from regviewer.registration.torch_backend import ops
from regviewer.registration.torch_backend.inference import to_fixed_grid
from regviewer.registration.torch_backend.model_io import METADATA_NAME, UnsafeModelError, load_model, save_model
from regviewer.registration.torch_backend.unet import UNetConfig, VelocityUNet


def _tiny_model(path: Path, shape=(32, 32)) -> Path:
    torch.manual_seed(0)
    model = VelocityUNet(UNetConfig(ndim=len(shape), encoder=(4, 8, 8), decoder=(8, 8)))
    with torch.no_grad():  # a visible, smooth, non-zero prediction
        model.velocity_head.bias.fill_(0.5)
    save_model(model, shape, path)
    return path


@pytest.fixture(scope="module")
def r16(shared_data):
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


# ---- model grid and mapping back ----------------------------------------------------------------


def test_model_grid_holds_the_fixed_extent_isotropically():
    fixed = Geometry((50, 40, 30), spacing=(1.0, 2.0, 1.5), origin=(5.0, -3.0, 2.0), direction=rotation((0, 0, 30)))
    grid = model_grid(fixed, (24, 24, 16))
    assert np.allclose(grid.spacing, grid.spacing[0]) and np.allclose(grid.direction, fixed.direction)
    low, high = fixed.bounds_mm()
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in fixed.size], indexing="ij")).reshape(3, -1).T
    inside = grid.physical_to_index(fixed.index_to_physical(corners))
    assert inside.min() >= -1e-6 and np.all(inside.max(axis=0) <= np.array(grid.size) - 1 + 1e-6)
    assert np.isclose(
        (inside.max(axis=0) - np.array(grid.size) + 1 + inside.min(axis=0)).max(), 0.0, atol=1e-6
    )  # centred
    with pytest.raises(RegViewerError, match="2D images"):
        model_grid(fixed, (32, 32))


def test_field_mapped_to_the_fixed_grid_matches_the_model_grid_field():
    fixed = Geometry((30, 26, 20), spacing=(1.0, 1.2, 2.0), origin=(1.0, 2.0, 3.0), direction=rotation((10, 0, 0)))
    grid = model_grid(fixed, (16, 16, 12))
    displacement = ops.gaussian_blur(torch.randn(1, 3, 16, 16, 12), 2.0) * 3
    on_model = ops.displacement_to_transform(displacement, grid)
    on_fixed = to_fixed_grid(displacement, grid, fixed)
    points = fixed.voxel_centres_mm().reshape(-1, 3)
    index = grid.physical_to_index(points)
    inside = np.all((index > 0.01) & (index < np.array(grid.size) - 1.01), axis=1)  # on_model is 0 outside its grid
    assert inside.sum() > 10000
    expected = on_model.transform_points(points[inside]) - points[inside]
    assert np.abs(on_fixed.displacement.reshape(-1, 3)[inside] - expected).max() < 1e-4
    assert np.abs(expected).max() > 1.0


def test_to_model_grid_normalises_and_follows_the_initial_transform(r16):
    grid = model_grid(r16.geometry, (64, 64))
    shift = AffineTransform(np.eye(2), (8.0, 0.0))
    plain, shifted = to_model_grid(r16, grid), to_model_grid(r16, grid, shift)
    assert plain.shape == (64, 64) and 0.0 <= plain.min() and plain.max() <= 1.0 and plain.max() > 0.9
    assert np.abs(np.roll(shifted, 2, axis=1)[:, 4:-4] - plain[:, 4:-4]).mean() < 0.02  # 8 mm = 2 model pixels of 4 mm


# ---- safe loading -------------------------------------------------------------------------------


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _RunsCode(marker)}, tmp_path / "evil.pt")
    with open(tmp_path / "legacy.pth", "wb") as handle:
        pickle.dump(_RunsCode(marker), handle)
    for name in ("evil.pt", "legacy.pth"):
        with pytest.raises(UnsafeModelError, match="refused|not a PyTorch"):
            load_model(tmp_path / name)
    assert not marker.exists()
    image = Image.from_array(np.zeros((32, 32), np.float32))
    with pytest.raises(RegViewerError, match="refused"):
        get_method("network").run(Request(image, image, {"model": str(tmp_path / "evil.pt")}))
    assert not marker.exists()
    (tmp_path / "text.pt").write_text("not a model")
    with pytest.raises(UnsafeModelError, match="not a PyTorch"):
        load_model(tmp_path / "text.pt")


def test_state_dict_needs_its_description(tmp_path):
    model = VelocityUNet(UNetConfig(ndim=2, encoder=(4, 8, 8), decoder=(8, 8)))
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(RegViewerError, match="bare.json"):
        load_model(tmp_path / "bare.pt")
    (tmp_path / "bare.json").write_text(json.dumps({"model": model.config.to_dict(), "shape": [32, 32]}))
    loaded = load_model(tmp_path / "bare.pt")
    assert loaded.kind == "state dict" and loaded.shape == (32, 32)
    (tmp_path / "bare.json").write_text(
        json.dumps({"model": {**model.config.to_dict(), "encoder": [4, 4, 4]}, "shape": [32, 32]})
    )
    with pytest.raises(RegViewerError, match="do not fit"):
        load_model(tmp_path / "bare.pt")


def test_torchscript_model_runs_through_the_method(tmp_path, r16):
    model = VelocityUNet(UNetConfig(ndim=2, encoder=(4, 8, 8), decoder=(8, 8))).eval()
    example = (torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    traced = torch.jit.trace(model, example)
    torch.jit.save(traced, str(tmp_path / "net.ts"), _extra_files={METADATA_NAME: json.dumps({"shape": [32, 32]})})
    loaded = load_model(tmp_path / "net.ts")
    assert loaded.kind == "TorchScript" and loaded.shape == (32, 32)
    result = get_method("network").run(Request(r16, r16, {"model": str(tmp_path / "net.ts")}))
    assert result.status == "completed" and isinstance(result.transform, DisplacementFieldTransform)
    torch.jit.save(traced, str(tmp_path / "plain.ts"))
    with pytest.raises(RegViewerError, match="needs its 'shape'"):
        load_model(tmp_path / "plain.ts")


# ---- the method ---------------------------------------------------------------------------------


def test_parameters_accept_bundled_names_and_existing_files(tmp_path):
    method = get_method("network")
    assert resolve_parameters(method, {})["model"] == "auto"
    assert resolve_parameters(method, {"model": "brain3d"})["model"] == "brain3d"
    with pytest.raises(ParameterError, match="not found"):
        resolve_parameters(method, {"model": str(tmp_path / "absent.pt")})
    with pytest.raises(ParameterError, match="nor a model file"):
        resolve_parameters(method, {"model": "brain4d"})


def test_progress_previews_refinement_and_initial_transform(tmp_path, r16):
    path = _tiny_model(tmp_path / "tiny.pt")
    initial = AffineTransform(rotation(3.0), (2.0, -1.0))
    events = []
    result = get_method("network").run(
        Request(r16, r16, {"model": str(path), "refinement_iterations": 12}, initial_transform=initial), events.append
    )
    assert result.status == "completed" and len(result.metric_history) == 12
    assert isinstance(result.transform, CompositeTransform) and result.transform.transforms[-1] is initial
    assert isinstance(result.transform.transforms[0], DisplacementFieldTransform)
    assert result.transform.transforms[0].geometry.same_as(r16.geometry)
    assert [event.iteration for event in events if event.level == 1 and event.metric is not None] == list(range(12))
    assert sum(event.preview is not None for event in events) >= 2
    field = result.transform.transforms[0].displacement
    assert np.abs(field).max() > 0.5  # the tiny model's constant velocity moves points


def test_cancel_before_and_during_refinement(tmp_path, r16):
    path = _tiny_model(tmp_path / "tiny.pt")
    method = get_method("network")
    cancel = CancelToken()
    cancel.cancel()
    early = method.run(Request(r16, r16, {"model": str(path)}), cancel=cancel)
    assert early.status == "cancelled" and isinstance(early.transform, AffineTransform)

    cancel = CancelToken()

    def stop_after_five(event):
        if event.level == 1 and event.iteration == 4 and event.metric is not None:
            cancel.cancel()

    late = method.run(Request(r16, r16, {"model": str(path), "refinement_iterations": 200}), stop_after_five, cancel)
    assert late.status == "cancelled" and len(late.metric_history) == 5
    assert isinstance(late.transform, DisplacementFieldTransform)
    points = r16.index_to_physical(np.array([[100.0, 120.0], [30.0, 200.0]]))
    assert np.all(np.isfinite(late.transform.transform_points(points)))


def test_model_of_the_wrong_dimension_is_explained(tmp_path):
    path = _tiny_model(tmp_path / "tiny.pt")
    volume = Image.from_array(np.zeros((12, 16, 16), np.float32))
    with pytest.raises(RegViewerError, match="2D but the images are 3D"):
        get_method("network").run(Request(volume, volume, {"model": str(path)}))


# ---- bundled models on held-out pairs -----------------------------------------------------------


def _tissue_classes(image: Image) -> Image:
    """Four intensity classes (background, dark, mid, bright tissue) by multi-Otsu thresholds."""
    array = image.array.astype(np.float32)
    labels = np.digitize(array, threshold_multiotsu(array, classes=4)).astype(np.uint8)
    return image.with_array(labels, is_label=True)


def _mean_dice(fixed_labels: Image, moving_labels: Image, transform, labels) -> float:
    warped = resample_image(moving_labels, fixed_labels.geometry, transform, "label").array
    return float(np.mean(list(dice_per_label(fixed_labels.array, warped, labels).values())))


def test_bundled_models_exist_and_are_small():
    for name in BUNDLED:
        path = MODELS / f"{name}.pt"
        assert path.is_file() and path.stat().st_size < 5_000_000
        assert (MODELS / f"{name}.toml").is_file()
        assert load_model(path).ndim == int(name[-2])


@pytest.mark.parametrize("moving_name", ["r64", "r85"])
def test_bundled_2d_model_improves_dice_on_held_out_pairs(shared_data, r16, moving_name):
    moving = read_image(shared_data / "brain2d" / f"{moving_name}slice.jpg")
    fixed_labels, moving_labels = _tissue_classes(r16), _tissue_classes(moving)
    affine = get_method("affine").run(Request(r16, moving, {"metric": "ncc"})).transform
    result = get_method("network").run(Request(r16, moving, {"model": "brain2d"}, initial_transform=affine))
    before = _mean_dice(fixed_labels, moving_labels, affine, [1, 2, 3])
    after = _mean_dice(fixed_labels, moving_labels, result.transform, [1, 2, 3])
    print(
        f"2D {moving_name} -> r16: tissue Dice affine {before:.3f} -> affine + network {after:.3f} ({result.runtime_s:.2f} s)"
    )
    assert after > before + 0.05


def test_bundled_2d_model_recovers_a_known_warp_of_a_held_out_slice(r16):
    truth = CompositeTransform(
        [smooth_random_field(r16.geometry, 5.0, coarse_mm=24, seed=21), about_centre(r16, rotation(2.5), (2.0, -3.0))]
    )
    labels = _tissue_classes(r16)
    moving, moving_labels = (
        resample_image(r16, r16.geometry, truth.inverse()),
        resample_image(labels, r16.geometry, truth.inverse(), "label"),
    )
    result = get_method("network").run(Request(r16, moving, {"model": "brain2d"}))
    before, after = (
        _mean_dice(labels, moving_labels, None, [1, 2, 3]),
        _mean_dice(labels, moving_labels, result.transform, [1, 2, 3]),
    )
    print(f"2D known warp of r16: tissue Dice {before:.3f} -> network {after:.3f}")
    assert after > before + 0.07


def _half_resolution(image: Image) -> Image:
    kind = sitk.sitkNearestNeighbor if image.is_label else sitk.sitkLinear
    source = image.to_sitk() if image.is_label else sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
    size = [int(n) // 2 for n in source.GetSize()]
    origin = source.TransformContinuousIndexToPhysicalPoint([0.5] * 3)
    resampled = sitk.Resample(source, size, sitk.Transform(), kind, origin, [2.0] * 3, source.GetDirection(), 0)
    return Image.from_sitk(resampled, name=image.name, is_label=image.is_label)


@pytest.mark.slow
def test_bundled_3d_model_improves_dice_on_a_held_out_deformation(shared_data):
    npz = shared_data / "brain3d" / "test_scan.npz"
    labels = np.load(shared_data / "brain3d" / "labels.npz")["labels"].astype(int).tolist()
    image, segmentation = _half_resolution(read_image(npz)), _half_resolution(read_image(npz, is_label=True))
    truth = CompositeTransform(
        [
            smooth_random_field(image.geometry, 4.0, seed=11),
            about_centre(image, rotation((3.0, -2.0, 3.0)) @ np.diag([1.03, 0.97, 1.02]), (3.0, -2.0, 2.0)),
        ]
    )
    moving = resample_image(image, image.geometry, truth.inverse())
    moving_labels = resample_image(segmentation, image.geometry, truth.inverse(), "label")
    result = get_method("network").run(Request(image, moving, {"model": "brain3d"}))
    before = _mean_dice(segmentation, moving_labels, None, labels)
    after = _mean_dice(segmentation, moving_labels, result.transform, labels)
    print(f"3D held-out deformation: Dice (30 labels) {before:.3f} -> network {after:.3f} ({result.runtime_s:.2f} s)")
    assert after > before + 0.1


def _prostate_test_pair(shared_data, number: str):
    """A prostate_cohort test pair (never used in training): ultrasound fixed, MR moving taken to cover the
    fixed field of view (the cohort's headers are not physical), gland labels, landmark-blob centroids."""
    folder = shared_data / "prostate_cohort" / "test"
    name = f"case0000{number}.nii.gz"
    fixed = read_image(folder / "fixed_images" / name)

    def on_extent(image: Image) -> Image:
        ratio = (np.array(fixed.geometry.size) - 1) / (np.array(image.geometry.size) - 1)
        geometry = Geometry(
            image.shape, fixed.geometry.spacing * ratio, fixed.geometry.origin, fixed.geometry.direction
        )
        return Image(image.array, geometry, is_label=image.is_label)

    def channel(role: str, k: int) -> Image:
        image = read_image(folder / f"{role}_labels" / name, is_label=True, channel=k)
        return image if role == "fixed" else on_extent(image)

    def centroids(role: str) -> np.ndarray:
        blobs = [channel(role, k) for k in (1, 2)]
        return np.array([b.index_to_physical(np.argwhere(b.array > 0).mean(axis=0)[::-1]) for b in blobs])

    moving = on_extent(read_image(folder / "moving_images" / name))
    return fixed, moving, channel("fixed", 0), channel("moving", 0), centroids("fixed"), centroids("moving")


@pytest.mark.parametrize("number", ["25", "26"])
def test_bundled_prostate_model_improves_the_gland_and_the_landmarks_of_the_test_pairs(shared_data, number):
    fixed, moving, fixed_gland, moving_gland, fixed_points, moving_points = _prostate_test_pair(shared_data, number)
    result = get_method("network").run(Request(fixed, moving, {"model": "prostate3d"}))
    assert "passes: 1" in result.log  # the model file's own number of passes
    before, after = (_mean_dice(fixed_gland, moving_gland, t, [1]) for t in (None, result.transform))
    error_before = np.linalg.norm(fixed_points - moving_points, axis=1).mean()
    error_after = np.linalg.norm(result.transform.transform_points(fixed_points) - moving_points, axis=1).mean()
    print(
        f"prostate {number}: gland Dice {before:.3f} -> {after:.3f}, landmark error {error_before:.2f} -> {error_after:.2f}"
    )
    assert after > before + 0.1
    assert error_after < error_before


def test_a_model_file_that_does_not_say_runs_three_passes(tmp_path, r16):
    model = _tiny_model(tmp_path / "tiny.pt", shape=(32, 32))
    assert "passes: 3" in get_method("network").run(Request(r16, r16, {"model": str(model)})).log
    assert "passes: 2" in get_method("network").run(Request(r16, r16, {"model": str(model), "passes": 2})).log
