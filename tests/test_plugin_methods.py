"""The method plugins under plugins/ (TV-L1 optical flow, STN affine) on real slices with known warps:
they register, recover the warp, report progress in order and honour cancel.

Errors are reported in pixels (the 2D samples have 1 mm pixels) at foreground points.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import about_centre, foreground_points, moving_for, rotation, smooth_random_field
from plugin_helpers import PLUGINS, plugin_on_path

from regviewer.api import CancelToken, CompositeTransform, DisplacementFieldTransform, Image, Request, read_image


@pytest.fixture(scope="module")
def tvl1():
    with plugin_on_path(PLUGINS / "regviewer-tvl1"):
        from regviewer_tvl1 import OpticalFlowTVL1Method

        yield OpticalFlowTVL1Method()


@pytest.fixture(scope="module")
def slice_2d(shared_data):
    return read_image(shared_data / "brain2d" / "r16slice.jpg")


def _errors_px(found, truth, points) -> np.ndarray:
    return np.linalg.norm(found.transform_points(points) - truth.transform_points(points), axis=1)


def _in_order(events) -> bool:
    keys = [(event.level, event.iteration) for event in events]
    return keys == sorted(keys) and len(set(keys)) == len(keys)


def test_tvl1_recovers_a_smooth_warp_in_2d(tvl1, slice_2d):
    truth = smooth_random_field(slice_2d.geometry, 8.0, coarse_mm=64.0, seed=3)
    moving = moving_for(slice_2d, truth)
    points = foreground_points(slice_2d, 400)
    events = []
    result = tvl1.run(Request(slice_2d, moving), events.append, CancelToken())
    before = np.linalg.norm(points - truth.transform_points(points), axis=1)
    after = _errors_px(result.transform, truth, points)
    print(f"TV-L1 2D: mean error {before.mean():.2f} -> {after.mean():.3f} px, p95 {np.percentile(after, 95):.3f} px")
    assert result.status == "completed" and isinstance(result.transform, DisplacementFieldTransform)
    assert before.mean() > 2.5 and after.mean() < 0.2 and np.percentile(after, 95) < 0.5
    n_levels = events[0].n_levels
    assert n_levels >= 3 and len(events) == n_levels * 5 and _in_order(events)  # 5 warps per level
    assert all(e.n_levels == n_levels and e.max_iterations == 5 for e in events)
    assert events[-1].metric < events[0].metric and events[-1].preview is not None


def test_tvl1_keeps_the_initial_transform_and_works_in_3d(tvl1, shared_data):
    volume = read_image(shared_data / "brain3d" / "test_scan.npz").array[20:140:3, 30:170:3, 30:200:3]
    fixed = Image.from_array(volume.astype(np.float32), spacing=(3.0, 3.0, 3.0), origin=(5.0, -10.0, 20.0))
    affine = about_centre(fixed, rotation((0, 0, 4)), (3.0, -2.0, 1.5))
    deformable = smooth_random_field(fixed.geometry, 5.0, coarse_mm=60.0, seed=5)
    truth = CompositeTransform([deformable, affine])
    moving = moving_for(fixed, truth)
    points = foreground_points(fixed, 400)
    result = tvl1.run(Request(fixed, moving, initial_transform=affine))
    assert isinstance(result.transform, CompositeTransform) and result.transform.transforms[-1] is affine
    before = _errors_px(affine, truth, points)
    after = _errors_px(result.transform, truth, points)
    print(f"TV-L1 3D (3 mm voxels): mean error {before.mean():.2f} -> {after.mean():.2f} mm")
    assert after.mean() < 0.4 * before.mean()


def test_tvl1_honours_cancel_and_returns_its_last_transform(tvl1, slice_2d):
    truth = smooth_random_field(slice_2d.geometry, 8.0, coarse_mm=64.0, seed=3)
    moving = moving_for(slice_2d, truth)
    cancel, events = CancelToken(), []

    def cancel_after_first(event):
        events.append(event)
        cancel.cancel()

    result = tvl1.run(Request(slice_2d, moving), cancel_after_first, cancel)
    assert (
        result.status == "cancelled"
        and len(events) == 1
        and "level 1/" in result.message
        and "warp 2" in result.message
    )
    points = foreground_points(slice_2d, 200)
    assert (
        _errors_px(result.transform, truth, points).mean()
        < np.linalg.norm(points - truth.transform_points(points), axis=1).mean()
    )
    cancel_first = CancelToken()
    cancel_first.cancel()
    untouched = tvl1.run(Request(slice_2d, moving), cancel=cancel_first)
    assert untouched.status == "cancelled" and np.abs(untouched.transform.displacement).max() == 0


def test_tvl1_after_affine_in_a_chain(shared_data, slice_2d):
    """``--method affine,optical-flow-tvl1``: the chain passes the affine as the initial transform."""
    from plugin_helpers import registry_with_plugin

    from regviewer.registration.pipeline import Stage, run_chain

    affine = about_centre(slice_2d, rotation(6.0) * 1.05, (5.0, -4.0))
    truth = CompositeTransform([smooth_random_field(slice_2d.geometry, 4.0, coarse_mm=64.0, seed=7), affine])
    moving = moving_for(slice_2d, truth)
    with registry_with_plugin("regviewer-tvl1", ["affine"]) as registry:
        result = run_chain(
            [Stage("affine", {"metric": "mse"}), Stage("optical-flow-tvl1")],
            Request(slice_2d, moving),
            registry=registry,
        )
    points = foreground_points(slice_2d, 400)
    after = _errors_px(result.transform, truth, points)
    print(
        f"affine + TV-L1 2D: mean error {np.linalg.norm(points - truth.transform_points(points), axis=1).mean():.2f} -> {after.mean():.3f} px"
    )
    assert result.status == "completed" and after.mean() < 0.3


def test_tvl1_registers_the_colour_fundus_pair_on_green(tmp_path):
    """The fundus workflow: colour pictures, registered on the green channel inside the field of view."""
    from fundus import write_fundus_pair
    from plugin_helpers import registry_with_plugin

    from regviewer.core.colour import field_of_view_mask, registration_channel
    from regviewer.registration.pipeline import Stage, run_chain

    fixed_path, moving_path, truth = write_fundus_pair(tmp_path, 256)
    fixed = registration_channel(read_image(fixed_path), "green")
    moving = registration_channel(read_image(moving_path), "green")
    inside = np.argwhere(field_of_view_mask(fixed, erode_px=15).array > 0)[::37]
    points = fixed.index_to_physical(inside[:, ::-1].astype(float))
    with registry_with_plugin("regviewer-tvl1", ["affine"]) as registry:
        result = run_chain(
            [Stage("affine", {"metric": "ncc"}), Stage("optical-flow-tvl1")],
            Request(fixed, moving, fixed_mask=field_of_view_mask(fixed)),
            registry=registry,
        )
    before = np.linalg.norm(points - truth.transform_points(points), axis=1)
    after = _errors_px(result.transform, truth, points)
    print(f"fundus 256 px, affine + TV-L1 on green: mean error {before.mean():.2f} -> {after.mean():.3f} px")
    assert before.mean() > 5 and after.mean() < 0.3 and np.percentile(after, 95) < 1.0


# ---- stn-affine ------------------------------------------------------------------------------------------
pytest.importorskip("torch")  # the [torch] extra: installed in CI (.ci/run) and here


@pytest.fixture(scope="module")
def stn():
    with plugin_on_path(PLUGINS / "regviewer-stn"):
        from regviewer_stn import STNAffineMethod

        yield STNAffineMethod()


@pytest.fixture(scope="module")
def affine_pair(slice_2d):
    truth = about_centre(slice_2d, rotation(10.0) @ np.diag([1.06, 0.95]), (9.0, -7.0))
    return slice_2d, moving_for(slice_2d, truth), truth


def test_stn_recovers_a_known_affine_on_the_2d_sample(stn, affine_pair):
    fixed, moving, truth = affine_pair
    points = foreground_points(fixed, 400)
    before = np.linalg.norm(points - truth.transform_points(points), axis=1).mean()
    predicted = stn.run(Request(fixed, moving, {"refine_iterations": 0}))
    network_error = _errors_px(predicted.transform, truth, points).mean()
    events = []
    refined = stn.run(Request(fixed, moving), events.append, CancelToken())
    refined_error = _errors_px(refined.transform, truth, points).mean()
    print(f"STN 2D: mean error {before:.2f} px -> network {network_error:.2f} px -> refined {refined_error:.3f} px")
    assert predicted.status == refined.status == "completed" and refined.transform.is_linear
    assert network_error < 0.5 * before and refined_error < 0.5
    assert [(e.level, e.iteration) for e in events] == [(0, 0)] + [(1, i) for i in range(100)]
    assert events[-1].preview is not None and events[-1].metric < events[1].metric


def test_stn_honours_cancel_and_refuses_3d(stn, affine_pair):
    fixed, moving, truth = affine_pair
    cancel, events = CancelToken(), []

    def cancel_at_third(event):
        events.append(event)
        if len(events) == 3:
            cancel.cancel()

    result = stn.run(Request(fixed, moving), cancel_at_third, cancel)
    assert result.status == "cancelled" and len(events) == 3 and "after 2 refinement" in result.message
    volume = Image.from_array(np.zeros((4, 16, 16), np.float32))
    from regviewer.api import RegViewerError

    with pytest.raises(RegViewerError, match="2D images only"):
        stn.run(Request(volume, volume))


def test_stn_trains_with_regviewer_train_resumes_and_the_model_runs(stn, affine_pair, tmp_path, monkeypatch, capsys):
    """``regviewer train`` hands a ``trainer = "stn-affine"`` configuration to the plugin's trainer."""
    from plugin_helpers import declared_entry_points

    from regviewer.cli.main import main
    from regviewer.registration import trainers

    folder = PLUGINS / "regviewer-stn"
    monkeypatch.setattr(trainers.metadata, "entry_points", lambda group: declared_entry_points(folder, group))
    config = tmp_path / "stn.toml"
    config.write_text(
        'trainer = "stn-affine"\n[model]\nsize = 32\nchannels = [8, 16]\n'
        '[training]\nsteps = 4\nbatch_size = 2\nlog_every = 2\ncheckpoint_every = 2\nthreads = 1\n[output]\ndir = "run"\n'
    )
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "loss_log.csv", "model.pt"]
    assert main(["train", "--config", str(config), "--resume", "--steps", "6"]) == 0
    assert "resuming from step 4" in capsys.readouterr().out
    assert [line.split(",")[0] for line in (run / "loss_log.csv").read_text().splitlines()[1:]] == ["2", "4", "6"]
    fixed, moving, _ = affine_pair
    result = stn.run(Request(fixed, moving, {"model": str(run / "model.pt"), "refine_iterations": 2}))
    assert result.status == "completed"
    config.write_text('trainer = "stn-affine"\n[model]\nsize = 30\n')
    assert main(["train", "--config", str(config)]) == 2
    assert "size 30 must be" in capsys.readouterr().err
