"""Hardening of reading and writing: outputs never replace inputs, atomic writes, a full disk, memory checks."""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

from regviewer.core.errors import ImageReadError, ImageWriteError, InvalidImageError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io import file_checks, read_image, write_image
from regviewer.core.io.output_guard import (
    OutputConflictError,
    check_output_folder,
    check_outputs_are_not_inputs,
    same_file,
)
from regviewer.core.io.transforms_io import read_transform, write_transform
from regviewer.core.transforms import AffineTransform, check_transform


def _image(shape=(6, 7, 8)) -> Image:
    return Image.from_array(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape))


# ---- outputs that are inputs ----------------------------------------------------------------------
def test_same_file_sees_links_dotdot_and_missing_paths(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("x")
    (tmp_path / "soft.csv").symlink_to(target)
    os.link(target, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    assert same_file(target, tmp_path / "soft.csv")
    assert same_file(target, tmp_path / "hard.csv")
    assert same_file(target, tmp_path / "sub" / ".." / "a.csv")
    assert not same_file(target, tmp_path / "b.csv")
    assert same_file(tmp_path / "new.csv", tmp_path / "sub" / ".." / "new.csv")  # neither exists: normalised paths


def test_output_inside_an_input_dicom_folder_is_refused(tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    with pytest.raises(OutputConflictError, match="inside the input folder"):
        check_outputs_are_not_inputs([folder / "warped.nii.gz"], [folder])
    check_outputs_are_not_inputs([tmp_path / "elsewhere.nii.gz"], [folder, None])


def test_output_folder_checks_create_nothing_and_name_the_problem(tmp_path):
    check_output_folder(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImageWriteError, match="existing file"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(ImageWriteError, match="is a file"):
        check_output_folder(tmp_path / "file" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no probe left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused_before_work(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ImageWriteError, match="cannot be written"):
            check_output_folder(folder)
    finally:
        folder.chmod(0o755)


# ---- atomic writes and a full disk ----------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("name", ["warped.nii.gz", "warped.nrrd", "warped.mha", "warped.npz", "warped.tif"])
def test_full_disk_while_writing_an_image_leaves_no_file_and_says_so(tmp_path, monkeypatch, name):
    import regviewer.core.io.images as images

    path = tmp_path / name
    monkeypatch.setattr(
        images, {"nii.gz": "write_nifti", "npz": "write_npz"}.get(name.split(".", 1)[1], "write_with_itk"), _no_space
    )
    with pytest.raises(ImageWriteError, match="disk is full") as error:
        write_image(_image(), path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a temporary file


def test_full_disk_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    import regviewer.core.io.images as images

    path = write_image(_image(), tmp_path / "warped.nii.gz")
    before = path.read_bytes()
    monkeypatch.setattr(images, "write_nifti", _no_space)
    with pytest.raises(ImageWriteError, match="disk is full"):
        write_image(_image((3, 3, 3)), path)
    assert path.read_bytes() == before


def test_transform_and_landmark_writers_are_atomic(tmp_path, monkeypatch):
    import SimpleITK as sitk

    from regviewer.core.io.landmark_formats import PointSet, write_point_set

    monkeypatch.setattr(sitk, "WriteTransform", _no_space)
    with pytest.raises(ImageWriteError, match="disk is full"):
        write_transform(AffineTransform.identity(3), tmp_path / "t.tfm")
    monkeypatch.undo()
    points = PointSet(["a"], np.array([[1.0, 2.0, 3.0]]), [True])
    import regviewer.core.io.atomic_text as atomic_text

    real_open = open

    def failing_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        handle.write("partial")
        handle.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_text, "open", failing_open, raising=False)
    for name in ("p.csv", "p.fcsv"):
        with pytest.raises(ImageWriteError, match="disk is full"):
            write_point_set(tmp_path / name, points)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_on_a_real_small_file_system(tmp_path):
    """A 1 MB tmpfs when this process may mount one (root in a container); otherwise this test cannot run here."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root with mount rights)")
    try:
        big = Image.from_array(
            np.random.default_rng(0).random((128, 64, 64)).astype(np.float32)
        )  # 2 MB, incompressible
        with pytest.raises(ImageWriteError, match="disk is full"):
            write_image(big, mount / "warped.nii.gz")
        assert list(mount.iterdir()) == []
        small = write_image(_image(), mount / "small.nii.gz")  # the disk works again once there is room
        assert read_image(small).shape == (6, 7, 8)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


# ---- reading: special files, sizes, memory --------------------------------------------------------
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.nii.gz"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_image(fifo)
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_transform(fifo)


def test_not_enough_memory_is_said_only_when_true(tmp_path, monkeypatch):
    path = write_image(_image((20, 20, 20)), tmp_path / "a.nii")
    monkeypatch.setattr(file_checks, "available_memory", lambda: 1000)
    with pytest.raises(ImageReadError, match="not enough memory: 20x20x20 voxels"):
        read_image(path)
    monkeypatch.setattr(file_checks, "available_memory", lambda: 10**12)
    assert read_image(path).shape == (20, 20, 20)


def test_a_dicom_series_too_large_for_memory_is_refused_before_reading(monkeypatch):
    import pydicom.data

    folder = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "98892001" / "CT5N"
    monkeypatch.setattr(
        file_checks, "available_memory", lambda: 4000
    )  # 5 x 16 x 16 slices, rescaled to int32, need 10 kB
    with pytest.raises(ImageReadError, match="not enough memory: 5x16x16 voxels of 4 bytes"):
        read_image(folder)
    monkeypatch.setattr(file_checks, "available_memory", lambda: 10**12)
    assert read_image(folder).shape == (5, 16, 16)


def test_compressed_data_shorter_than_the_header_is_refused(tmp_path):
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((16, 16, 16))
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    data = header.binaryblock + b"\0" * 4 + np.arange(16**3, dtype=np.float32).tobytes()
    (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(data)[:-600])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "cut.nii.gz")
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "DimSize = 8 8 8",
        "ElementType = MET_FLOAT",
        "CompressedData = True",
        "CompressedDataSize = 20",
        "ElementDataFile = LOCAL",
    ]
    (tmp_path / "short.mha").write_bytes(("\n".join(lines) + "\n").encode() + zlib.compress(b"\1" * 100))
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "short.mha")


def test_multi_member_gzip_is_counted_to_its_end(tmp_path):
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 500))
    assert file_checks.deflated_length(path, 0, 10**6) == (1500, True)


# ---- transforms -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "matrix", [np.diag([1.0, 1.0, 0.0]), np.zeros((3, 3)), np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])]
)
def test_singular_transforms_are_refused(matrix):
    with pytest.raises(InvalidImageError, match="singular"):
        check_transform(AffineTransform(matrix))


def test_nan_transform_is_refused_on_reading(tmp_path):
    path = tmp_path / "nan.tfm"
    path.write_text(
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
        "Parameters: nan 0 0 0 1 0 0 0 1 0 0 0\nFixedParameters: 0 0 0\n"
    )
    with pytest.raises(ImageReadError, match="NaN"):
        read_transform(path)


def test_every_read_error_is_a_regviewer_error_with_one_line(tmp_path):
    path = tmp_path / "x.h5"
    import h5py

    with h5py.File(path, "w") as handle:
        handle["a"] = np.arange(3)
    with pytest.raises(RegViewerError) as error:
        read_transform(path)
    assert "TransformGroup" in str(error.value) and "\n" not in str(error.value)


# ---- settings -------------------------------------------------------------------------------------
def test_corrupt_settings_values_are_ignored_with_a_notice(qtbot, tmp_path, caplog):
    from PySide6.QtCore import QSettings

    from regviewer.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recentFiles", 5)
    settings.setValue("lastFolder", 7)
    settings.sync()
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    assert window.recent_files() == []
    assert window._last_folder() == str(Path.home())
    assert "ignored a bad value in the settings file" in caplog.text
    assert settings.value("recentFiles") is None  # removed: the notice is given once


def test_window_screenshot_never_overwrites_an_open_image(qtbot, tmp_path, settings, errors):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from corpus_files import good_pair

    from regviewer.gui.main_window import MainWindow

    fixed, moving = good_pair(tmp_path, 2)
    before = fixed.read_bytes()
    window = MainWindow(fixed=fixed, moving=moving, settings=settings)
    qtbot.addWidget(window)
    assert not window.save_screenshot(fixed)
    assert fixed.read_bytes() == before and "overwrite" in errors[-1]
    assert window.save_screenshot(tmp_path / "shot.png") and (tmp_path / "shot.png").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.parametrize("ndims", ["-1", "100000", "1e308", "abc"])
def test_bad_metaimage_ndims_is_refused_before_itk_crashes(tmp_path, ndims):
    """ITK's MetaImage reader crashed the whole process (segmentation fault) on these (found by fuzzing)."""
    path = write_image(_image(), tmp_path / "a.mha")
    data = path.read_bytes().replace(b"NDims = 3", f"NDims = {ndims}".encode())
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match="NDims"):
        read_image(path)
