"""Landmarks: the pair model with undo, the fits, the thin-plate spline, file formats and the CLI."""

import json

import numpy as np
import pytest

from regviewer.cli.main import main
from regviewer.core.errors import RegViewerError
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image, write_image
from regviewer.core.io.landmark_formats import (
    PointSet,
    detect_format,
    load_pairs,
    read_landmark_file,
    read_point_set,
    write_pairs,
    write_point_set,
)
from regviewer.core.landmark_fit import (
    LandmarkFitError,
    fit,
    fit_affine,
    fit_rigid,
    fit_similarity,
    leave_one_out,
    pair_errors,
)
from regviewer.core.landmarks import LandmarkPair, LandmarkSet
from regviewer.core.slice_warp import map_slice_points
from regviewer.core.tps import ThinPlateSplineTransform
from regviewer.core.transforms import AffineTransform, to_displacement_field
from regviewer.registration.registry import default_registry
from tests.helpers import rotation

RNG = np.random.default_rng(7)


# ---- model and undo -------------------------------------------------------------------------------
def test_every_edit_undoes_and_redoes():
    landmarks = LandmarkSet(3)
    heard = []
    landmarks.listeners.append(lambda: heard.append(len(landmarks)))
    landmarks.add_pair((1, 2, 3))
    landmarks.set_point(0, "moving", (4, 5, 6))
    landmarks.add_pair((7, 8, 9), (10, 11, 12), name="tip")
    landmarks.rename(0, "base")
    landmarks.set_active(1, False)
    landmarks.move_row(1, 0)
    assert [p.name for p in landmarks.pairs] == ["tip", "base"] and not landmarks[0].active
    saved = landmarks.pairs
    landmarks.delete(1)
    assert len(landmarks) == 1
    assert landmarks.undo() and landmarks.pairs == saved  # undo restores the deleted pair
    assert landmarks.redo() and len(landmarks) == 1
    while landmarks.undo():
        pass
    assert len(landmarks) == 0 and not landmarks.can_undo()
    while landmarks.redo():
        pass
    assert len(landmarks) == 1 and landmarks[0].name == "tip"
    assert len(heard) > 10


def test_a_drag_is_one_undo_step_and_pairs_complete_in_order():
    landmarks = LandmarkSet(2)
    landmarks.add_pair((0, 0))
    landmarks.add_pair((5, 5))
    assert landmarks.next_incomplete("moving") == 0 and landmarks.next_incomplete("fixed") is None
    for step in range(5):
        landmarks.set_point(1, "fixed", (5 + step, 5), merge_key="drag-1")
    assert landmarks[1].fixed == (9.0, 5.0)
    landmarks.undo()
    assert landmarks[1].fixed == (5.0, 5.0) and landmarks.undo_text() == "add L2"
    with pytest.raises(RegViewerError):
        landmarks.set_point(0, "fixed", (1, 2, 3))
    indices, fixed, moving = landmarks.complete_active()
    assert len(indices) == 0 and fixed.shape == (0, 2)


# ---- fits -------------------------------------------------------------------------------------
@pytest.mark.parametrize("ndim", [2, 3])
def test_fits_recover_known_transforms_exactly(ndim):
    fixed = RNG.uniform(-80, 80, (12, ndim))
    matrix = rotation(17.0) if ndim == 2 else rotation((10, -20, 35))
    rigid = AffineTransform(matrix, RNG.uniform(-10, 10, ndim))
    similar = AffineTransform(1.3 * matrix, RNG.uniform(-10, 10, ndim))
    affine = AffineTransform(matrix @ np.diag(RNG.uniform(0.7, 1.4, ndim)) + 0.1, RNG.uniform(-10, 10, ndim))
    for fitter, truth in ((fit_rigid, rigid), (fit_similarity, similar), (fit_affine, affine)):
        found = fitter(fixed, truth.transform_points(fixed))
        np.testing.assert_allclose(found.matrix, truth.matrix, atol=1e-9)
        np.testing.assert_allclose(found.translation, truth.translation, atol=1e-8)
    # rigid ignores a scale it cannot represent: the residual is then not zero
    assert (
        pair_errors(fit_rigid(fixed, similar.transform_points(fixed)), fixed, similar.transform_points(fixed)).max() > 1
    )


@pytest.mark.parametrize("ndim", [2, 3])
def test_tps_interpolates_its_control_points_and_is_smooth_between(ndim):
    fixed = RNG.uniform(0, 100, (15, ndim))
    moving = fixed + RNG.normal(0, 3, fixed.shape)
    tps = fit("tps", fixed, moving)
    np.testing.assert_allclose(tps.transform_points(fixed), moving, atol=1e-6)
    np.testing.assert_allclose(tps.inverse_transform_points(moving), fixed, atol=1e-3)
    assert pair_errors(tps, fixed, moving).max() < 1e-3
    smooth = fit("tps", fixed, moving, regularisation=50.0)
    assert 0 < pair_errors(smooth, fixed, moving).mean() < 3 * np.sqrt(ndim)
    # an affine truth is reproduced everywhere (zero bending), not only at the landmarks
    truth = AffineTransform(np.eye(ndim) * 1.1, np.arange(ndim))
    exact = fit("tps", fixed, truth.transform_points(fixed))
    probe = RNG.uniform(-50, 150, (50, ndim))
    np.testing.assert_allclose(exact.transform_points(probe), truth.transform_points(probe), atol=1e-6)


def test_tps_saves_as_affine_plus_field_and_warps_slices_fast(tmp_path):
    fixed = RNG.uniform(0, 60, (10, 2))
    moving = fixed + RNG.normal(0, 2, fixed.shape)
    grid = Geometry((64, 64), (1.0, 1.0), (0.0, 0.0))
    tps = ThinPlateSplineTransform(fixed, moving, 0.0, grid)
    points = grid.voxel_centres_mm().reshape(-1, 2)
    sitk_transform = tps.to_sitk()
    through_itk = np.array([sitk_transform.TransformPoint(tuple(p)) for p in points[::97]])
    np.testing.assert_allclose(through_itk, tps.transform_points(points[::97]), atol=0.05)
    far = np.array([500.0, -300.0])  # outside the sampled grid: the affine part still applies
    np.testing.assert_allclose(
        sitk_transform.TransformPoint(tuple(far)), tps.affine_part().transform_points(far), atol=1e-6
    )
    from regviewer.core.io.transforms_io import read_transform, write_transform

    with pytest.raises(RegViewerError, match="h5"):
        write_transform(tps, tmp_path / "tps.tfm")
    again = read_transform(write_transform(tps, tmp_path / "tps.h5"))
    np.testing.assert_allclose(again.transform_points(points[::97]), tps.transform_points(points[::97]), atol=0.05)
    field = to_displacement_field(tps, grid)
    np.testing.assert_allclose(field.displacement.reshape(-1, 2) + points, tps.transform_points(points), atol=1e-9)
    big = Geometry((300, 300), (1.0, 1.0), (0.0, 0.0))
    spread = RNG.uniform(0, 300, (20, 2))
    bent = ThinPlateSplineTransform(spread, spread + RNG.normal(0, 5, spread.shape))
    exact = bent.transform_points(big.voxel_centres_mm().reshape(-1, 2)).reshape(300, 300, 2)
    assert np.abs(map_slice_points(bent, big) - exact).max() < 1e-3  # single-precision kernel only
    bent.display_stride = 4  # live preview: exact every 4th voxel, linear between
    assert np.abs(map_slice_points(bent, big) - exact).max() < 0.4


def test_preview_warp_of_a_large_slice_is_close_to_the_exact_one(shared_data):
    from scipy.ndimage import zoom

    from regviewer.core.slice_warp import warp_slice

    array = zoom(read_image(shared_data / "brain2d" / "r85slice.jpg").array.astype(np.float32), 2, order=1)
    image = Image.from_array(array, spacing=(0.5, 0.5))
    fixed = RNG.uniform(30, 220, (20, 2))
    tps = ThinPlateSplineTransform(fixed, fixed + RNG.normal(0, 3, fixed.shape))
    exact = warp_slice(image, tps, image.geometry)
    tps.display_stride = 4  # a live preview: half-resolution samples, TPS every 4th voxel
    preview = warp_slice(image, tps, image.geometry)
    assert preview.shape == exact.shape == (512, 512) and preview.dtype == np.float32
    difference = np.abs(preview - exact)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) < 12  # grey levels of 0..255
    labels = Image.from_array((array > 100).astype(np.uint8), spacing=(0.5, 0.5), is_label=True)
    warped_labels = warp_slice(labels, tps, image.geometry, label=True)  # never blurred by the half-resolution path
    assert warped_labels.shape == (512, 512) and set(np.unique(warped_labels)) == {0, 1}


def test_too_few_or_degenerate_pairs_give_clear_errors():
    with pytest.raises(LandmarkFitError, match="at least 4"):
        fit("affine", np.zeros((3, 3)), np.zeros((3, 3)))
    line = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3.0]])
    with pytest.raises(LandmarkFitError, match="one line"):
        fit("rigid", line, line)
    assert np.isnan(leave_one_out("affine", line[:3, :2] + [[0, 1], [0, 0], [1, 0]], line[:3, :2])).all()


def test_leave_one_out_flags_the_outlier():
    fixed = RNG.uniform(0, 100, (10, 2))
    moving = fixed + [5.0, -3.0]
    moving[4] += [15.0, 0.0]
    errors = leave_one_out("rigid", fixed, moving)
    assert np.argmax(errors) == 4 and errors[4] > 12


@pytest.mark.parametrize("name", ["landmark-rigid", "landmark-similarity", "landmark-affine", "landmark-tps"])
def test_registry_methods_fit_landmarks_on_top_of_an_initial_transform(name):
    from regviewer.registration.base import Request

    image = Image.from_array(np.zeros((20, 30, 30), np.float32))
    fixed = RNG.uniform(0, 30, (8, 3))
    truth = AffineTransform(rotation((0, 0, 12)), (3.0, -2.0, 1.0))
    initial = AffineTransform(np.eye(3), (1.0, 0.0, 0.0))
    request = Request(
        image,
        image,
        {},
        fixed_landmarks=fixed,
        moving_landmarks=truth.transform_points(fixed),
        initial_transform=initial,
    )
    result = default_registry().get(name).run(request)
    np.testing.assert_allclose(result.transform.transform_points(fixed), truth.transform_points(fixed), atol=1e-6)
    with pytest.raises(RegViewerError, match="needs fixed and moving landmarks"):
        default_registry().get(name).run(Request(image, image))


# ---- formats ------------------------------------------------------------------------------------
def _points(ndim, count=5):
    return PointSet(
        [f"L{i}" for i in range(count)], RNG.uniform(-100, 100, (count, ndim)), [i != 2 for i in range(count)]
    )


@pytest.mark.parametrize("to", ["csv", "fcsv", "mrk.json", "elastix", "ants"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_point_list_round_trip_of_every_format(tmp_path, to, ndim):
    original = _points(ndim)
    path = write_point_set(tmp_path / f"points.{'txt' if to == 'elastix' else to}", original, to)
    found = read_point_set(path)
    if found.points.shape[1] == 3 and ndim == 2:  # Slicer stores z = 0
        assert np.all(found.points[:, 2] == 0)
        found.points = found.points[:, :2]
    np.testing.assert_allclose(found.points, original.points, atol=1e-6)
    if to in ("csv", "fcsv", "mrk.json", "ants"):
        assert found.names == original.names
    if to in ("csv", "fcsv", "mrk.json"):
        assert found.active == original.active


@pytest.mark.parametrize("to", ["csv", "bigwarp"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_pair_files_round_trip_with_unplaced_points(tmp_path, to, ndim):
    pairs = [
        LandmarkPair(f"P{i}", i != 1, tuple(RNG.uniform(-50, 50, ndim)), tuple(RNG.uniform(-50, 50, ndim)))
        for i in range(4)
    ]
    pairs.append(LandmarkPair("half", True, tuple(RNG.uniform(-50, 50, ndim)), None))
    path = write_pairs(tmp_path / "pairs.csv", pairs, ndim, to)
    assert detect_format(path) == to
    found = read_landmark_file(path)
    assert [p.name for p in found] == [p.name for p in pairs] and [p.active for p in found] == [p.active for p in pairs]
    for a, b in zip(found, pairs):
        for side in ("fixed", "moving"):
            assert (a.point(side) is None) == (b.point(side) is None)
            if b.point(side) is not None:
                np.testing.assert_allclose(a.point(side), b.point(side), atol=1e-6)


def test_bigwarp_column_order_is_moving_then_fixed(tmp_path):
    path = tmp_path / "bw.csv"
    path.write_text(
        '"Pt-0","true","1.0","2.0","3.0","10.0","20.0","30.0"\n"Pt-1","false","4","5","6","Infinity","Infinity","Infinity"\n'
    )
    pairs = read_landmark_file(path)
    assert pairs[0].moving == (1.0, 2.0, 3.0) and pairs[0].fixed == (10.0, 20.0, 30.0)
    assert pairs[1].fixed is None and not pairs[1].active


def test_slicer_ras_files_equal_their_lps_twins(tmp_path):
    lps = tmp_path / "lps.fcsv"
    lps.write_text(
        "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n"
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "1,10.5,-20.25,30,0,0,0,1,1,1,0,A,,\n2,-1,2,-3,0,0,0,1,1,0,0,B,,\n"
    )
    ras = tmp_path / "ras.fcsv"
    ras.write_text(
        "# Markups fiducial file version = 4.11\n# CoordinateSystem = RAS\n"
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "1,-10.5,20.25,30,0,0,0,1,1,1,0,A,,\n2,1,-2,-3,0,0,0,1,1,0,0,B,,\n"
    )
    old = tmp_path / "old.fcsv"  # Slicer 4.6: numeric code, 0 = RAS
    old.write_text(ras.read_text().replace("CoordinateSystem = RAS", "CoordinateSystem = 0"))
    older = tmp_path / "older.fcsv"  # no CoordinateSystem line at all: RAS
    older.write_text(ras.read_text().replace("# CoordinateSystem = RAS\n", ""))
    reference = read_point_set(lps)
    assert reference.names == ["A", "B"] and reference.active == [True, False]
    for twin in (ras, old, older):
        np.testing.assert_allclose(read_point_set(twin).points, reference.points, atol=1e-12)
    document = {
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "RAS",
                "controlPoints": [
                    {"label": "A", "position": [-10.5, 20.25, 30]},
                    {"label": "B", "position": [1, -2, -3]},
                ],
            }
        ]
    }
    (tmp_path / "ras.mrk.json").write_text(json.dumps(document))
    np.testing.assert_allclose(read_point_set(tmp_path / "ras.mrk.json").points, reference.points, atol=1e-12)


def test_elastix_index_points_and_transformix_output(tmp_path):
    geometry = Geometry((10, 20, 30), (0.5, 2.0, 1.5), (5.0, -3.0, 1.0), rotation((0, 0, 30)))
    (tmp_path / "index.txt").write_text("index\n2\n1 2 3\n4.5 0 9\n")
    with pytest.raises(RegViewerError, match="voxel indices"):
        read_point_set(tmp_path / "index.txt")
    points = read_point_set(tmp_path / "index.txt", geometry=geometry).points
    np.testing.assert_allclose(points, geometry.index_to_physical(np.array([[1, 2, 3], [4.5, 0, 9]])))
    (tmp_path / "outputpoints.txt").write_text(
        "Point\t0\t; InputIndex = [ 1 2 3 ]\t; InputPoint = [ 1.000000 2.000000 3.000000 ]\t; OutputIndexFixed = [ 1 2 3 ]\t"
        "; OutputPoint = [ 1.500000 2.250000 2.750000 ]\t; Deformation = [ 0.5 0.25 -0.25 ]\n"
        "Point\t1\t; InputIndex = [ 4 5 6 ]\t; InputPoint = [ 4.0 5.0 6.0 ]\t; OutputIndexFixed = [ 4 5 6 ]\t"
        "; OutputPoint = [ 4.0 5.0 7.0 ]\t; Deformation = [ 0 0 1 ]\n"
    )
    pairs = read_landmark_file(tmp_path / "outputpoints.txt")
    assert (
        pairs[0].fixed == (1.0, 2.0, 3.0)
        and pairs[0].moving == (1.5, 2.25, 2.75)
        and pairs[1].moving == (4.0, 5.0, 7.0)
    )
    np.testing.assert_allclose(read_point_set(tmp_path / "outputpoints.txt", "moving").points[1], [4, 5, 7])


def test_pairing_two_lists_by_order_or_label(tmp_path):
    fixed = write_point_set(tmp_path / "f.fcsv", PointSet(["a", "b", "c"], np.arange(9.0).reshape(3, 3)))
    moving = write_point_set(tmp_path / "m.csv", PointSet(["c", "a"], np.arange(6.0).reshape(2, 3) + 100))
    with pytest.raises(RegViewerError, match="matched by row"):
        load_pairs(fixed, moving)
    pairs = load_pairs(fixed, moving, pair_by="label")
    assert [(p.name, p.complete) for p in pairs] == [("a", True), ("b", False), ("c", True)]
    assert pairs[0].moving == (103.0, 104.0, 105.0) and pairs[2].moving == (100.0, 101.0, 102.0)
    flat = write_point_set(tmp_path / "flat.mrk.json", PointSet(["a"], [[1.0, 2.0, 0.0]]))
    assert load_pairs(flat, flat, ndim=2)[0].fixed == (1.0, 2.0)
    tilted = write_point_set(tmp_path / "tilted.mrk.json", PointSet(["a"], [[1.0, 2.0, 5.0]]))
    with pytest.raises(RegViewerError, match="3D landmarks"):
        load_pairs(tilted, tilted, ndim=2)


def test_bad_landmark_files_give_one_line_errors(tmp_path):
    (tmp_path / "junk.csv").write_text("hello,world\n1,2\n")
    (tmp_path / "binary.fcsv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    (tmp_path / "short.txt").write_text("point\n3\n1 2 3\n")
    (tmp_path / "bad.mrk.json").write_text("{not json")
    for name in ("junk.csv", "binary.fcsv", "short.txt", "bad.mrk.json", "missing.csv"):
        with pytest.raises(RegViewerError):
            read_landmark_file(tmp_path / name)


# ---- CLI ----------------------------------------------------------------------------------------
def test_cli_convert_between_formats(tmp_path, capsys):
    source = write_pairs(
        tmp_path / "pairs.csv",
        [
            LandmarkPair("a", True, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0)),
            LandmarkPair("b", False, (7.0, 8.0, 9.0), (1.5, 2.5, 3.5)),
        ],
        3,
    )
    assert main(["landmarks", "convert", str(source), str(tmp_path / "bw.csv"), "--to", "bigwarp"]) == 0
    assert (
        main(["landmarks", "convert", str(tmp_path / "bw.csv"), str(tmp_path / "fixed.fcsv"), "--side", "fixed"]) == 0
    )
    assert main(["landmarks", "convert", str(tmp_path / "fixed.fcsv"), str(tmp_path / "fixed.txt")]) == 0
    np.testing.assert_allclose(read_point_set(tmp_path / "fixed.txt").points, [[1, 2, 3], [7, 8, 9]])
    assert (
        main(
            [
                "landmarks",
                "convert",
                str(tmp_path / "fixed.fcsv"),
                str(tmp_path / "again.csv"),
                "--to",
                "bigwarp",
                "--moving",
                str(source),
            ]
        )
        == 0
    )
    again = read_landmark_file(tmp_path / "again.csv")
    assert [p.name for p in again] == ["a", "b"] and again[1].moving == (1.5, 2.5, 3.5) and not again[1].active
    assert (
        main(["landmarks", "convert", str(tmp_path / "fixed.fcsv"), str(tmp_path / "bw2.csv"), "--to", "bigwarp"]) == 2
    )
    assert "needs pairs" in capsys.readouterr().err
    assert main(["landmarks", "convert", str(tmp_path / "bw.csv"), str(tmp_path / "x.fcsv")]) == 2
    assert "--side" in capsys.readouterr().err
    assert main(["landmarks", "convert", str(tmp_path / "nothing.csv"), str(tmp_path / "x.fcsv")]) == 2


def test_cli_landmark_registration_and_tre_in_metrics(tmp_path):
    y, x = np.mgrid[0:40, 0:50]
    array = (100 * np.exp(-(((x - 25) / 8.0) ** 2 + ((y - 20) / 6.0) ** 2))).astype(np.float32)
    fixed_path = write_image(Image.from_array(array), tmp_path / "fixed.nii.gz")
    moving_path = write_image(Image.from_array(np.roll(array, (3, -2), axis=(0, 1))), tmp_path / "moving.nii.gz")
    points = RNG.uniform(5, 35, (6, 2))
    truth = AffineTransform(np.eye(2), (-2.0, 3.0))
    fixed_file = write_point_set(
        tmp_path / "f.fcsv", PointSet([f"p{i}" for i in range(6)], np.hstack([points, np.zeros((6, 1))]))
    )
    moving_file = write_point_set(
        tmp_path / "m.txt", PointSet([f"p{i}" for i in range(6)], truth.transform_points(points))
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "register",
                str(fixed_path),
                str(moving_path),
                "-o",
                str(out),
                "--method",
                "landmark-rigid",
                "--fixed-landmarks",
                str(fixed_file),
                "--moving-landmarks",
                str(moving_file),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["before"]["tre_mean_mm"] > 3 and metrics["after"]["tre_mean_mm"] < 1e-6
    out = tmp_path / "tps"
    assert (
        main(
            [
                "register",
                str(fixed_path),
                str(moving_path),
                "-o",
                str(out),
                "--method",
                "landmark-tps",
                "--fixed-landmarks",
                str(fixed_file),
                "--moving-landmarks",
                str(moving_file),
            ]
        )
        == 0
    )
    assert (out / "transform.h5").exists() and json.loads((out / "metrics.json").read_text())["after"][
        "tre_mean_mm"
    ] < 1e-3
    warped = read_image(out / "warped.nii.gz").array
    assert np.abs(warped - array)[5:-5, 5:-5].max() < 0.5  # the TPS of a pure shift is that shift
    out = tmp_path / "init"
    assert (
        main(
            [
                "register",
                str(fixed_path),
                str(moving_path),
                "-o",
                str(out),
                "--method",
                "rigid",
                "--param",
                "iterations=5",
                "--fixed-landmarks",
                str(fixed_file),
                "--moving-landmarks",
                str(moving_file),
                "--init",
                "landmarks",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["after"]["tre_mean_mm"] < 0.5 < metrics["before"]["tre_mean_mm"]
    pairs_file = write_pairs(
        tmp_path / "pairs.csv",
        [LandmarkPair(f"p{i}", True, tuple(p), tuple(truth.transform_points(p))) for i, p in enumerate(points)],
        2,
        "bigwarp",
    )
    shuffled = write_point_set(
        tmp_path / "shuffled.csv", PointSet([f"p{i}" for i in range(6)][::-1], truth.transform_points(points)[::-1])
    )
    for extra in (
        ["--fixed-landmarks", str(pairs_file)],  # one BigWarp pair file
        ["--fixed-landmarks", str(fixed_file), "--moving-landmarks", str(shuffled), "--pair-landmarks-by", "label"],
    ):
        out = tmp_path / f"pairs{len(extra)}"
        assert (
            main(["register", str(fixed_path), str(moving_path), "-o", str(out), "--method", "landmark-affine"] + extra)
            == 0
        )
        assert json.loads((out / "metrics.json").read_text())["after"]["tre_max_mm"] < 1e-6
    assert (
        main(
            [
                "register",
                str(fixed_path),
                str(moving_path),
                "-o",
                str(tmp_path / "x"),
                "--method",
                "landmark-affine",
                "--fixed-landmarks",
                str(fixed_file),
                "--moving-landmarks",
                str(moving_file),
                "--param",
                "regularisation=1",
            ]
        )
        == 2
    )


# ---- real data: the brain2d landmark curves ---------------------------------------------------
def _curve_samples(image: Image, label: int, count: int) -> np.ndarray:
    """``count`` points along a labelled curve: centroids of equal-quantile bins along its main axis (top to bottom)."""
    points = image.index_to_physical(np.argwhere(image.array == label)[:, ::-1].astype(float))
    centred = points - points.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    position = centred @ (axis if axis[1] >= 0 else -axis)
    edges = np.quantile(position, np.linspace(0, 1, count + 1))
    return np.array(
        [points[(position >= low) & (position <= high)].mean(axis=0) for low, high in zip(edges[:-1], edges[1:])]
    )


def test_landmark_tps_reduces_tre_on_held_out_points_of_the_brain2d_curves(shared_data):
    folder = shared_data / "brain2d"
    r16 = read_image(folder / "r16sliceLM.nii.gz", is_label=True)
    r85 = read_image(folder / "r85sliceLM.nii.gz", is_label=True)
    fixed = np.vstack([_curve_samples(r16, label, 16) for label in (1, 2)])
    moving = np.vstack([_curve_samples(r85, label, 16) for label in (1, 2)])
    used = np.arange(len(fixed)) % 2 == 0  # every other point fits, the others are held out
    before = pair_errors(None, fixed[~used], moving[~used]).mean()
    after = {
        kind: pair_errors(fit(kind, fixed[used], moving[used]), fixed[~used], moving[~used]).mean()
        for kind in ("rigid", "affine", "tps")
    }
    print(f"held-out TRE: identity {before:.2f} mm, " + ", ".join(f"{k} {v:.2f} mm" for k, v in after.items()))
    assert after["tps"] < 0.2 * before and after["tps"] < after["affine"] < before
