"""A corpus of bad inputs generated at test time (nothing committed); ``corpus_run.py`` runs it.

Each case builds its files in its own folder and gives the ``regviewer`` argument list that should
refuse them. ``corpus_run.run_corpus`` runs every case in-process through
``regviewer.cli.main.main(argv)`` and classifies it:

- clear: exit 2, one stderr line starting ``regviewer: error:`` that names the expected file (or
  phrase) and, where ``REASONS`` lists one, gives the true reason; no traceback; every input file's
  hash unchanged;
- unclear: refused, but the message is not one line naming the file and the true reason;
- wrong success: exit 0 (the bad input was accepted);
- crash: an internal error (exit 1), a traceback, an escaping exception, or an input changed.

``python tests/corpus_run.py [ROOT]`` prints the table (the before / after figures of the issue).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Case:
    """One bad input: ``build(folder) -> (argv, expected text in the message)``."""

    name: str
    group: str
    build: Callable[[Path], tuple[list[str], str]]
    window: bool = False  # also run through the window's loader (an image or transform path)
    role: str = "fixed"
    traceback_expected: bool = False  # --debug prints one on purpose
    reason: str = ""  # a regular expression the message must match (see REASONS)


sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_files import (  # noqa: E402
    MHA3,
    NRRD3,
    REGISTER_FAST,
    _blob,
    _dicom_series,
    _field,
    _fifo,
    _mha,
    _mha_with,
    _nifti,
    _nifti_header,
    _npy_header_claiming,
    _npz,
    _nrrd,
    _png,
    _read_only_folder,
    _register,
    _tfm,
    _write,
    _zip_with,
    good_pair,
)


# ---- the cases ---------------------------------------------------------------------------------
def _image_case(
    name: str, group: str, make: Callable[[Path], Path], expect: str | None = None, role: str = "fixed"
) -> Case:
    def build(folder: Path) -> tuple[list[str], str]:
        bad = make(folder)
        return _register(bad, folder, role, ndim=2 if group == "picture" else 3), expect or bad.name

    return Case(name, group, build, window=True, role=role)


def _transform_case(name: str, make: Callable[[Path], Path], command: str = "init") -> Case:
    def build(folder: Path) -> tuple[list[str], str]:
        bad = make(folder)
        fixed, moving = good_pair(folder)
        if command == "init":
            return _register(fixed, folder, extra=["--init", str(bad)]), bad.name
        return ["render", str(fixed), str(moving), "-o", str(folder / "figure.png"), "--transform", str(bad)], bad.name

    return Case(name, "transform", build, window=True, role="transform")


def _args_case(name: str, group: str, build: Callable[[Path], tuple[list[str], str]]) -> Case:
    return Case(name, group, build)


def _nifti_cases() -> list[Case]:
    big = (1200, 1200, 1200)
    z = lambda shape: np.arange(int(np.prod(shape)), dtype=np.float32).tobytes()  # noqa: E731 (a ramp: not constant)
    cases = [
        ("nifti_empty", lambda f: _write(f / "empty.nii", b"")),
        ("nifti_gz_empty", lambda f: _write(f / "empty.nii.gz", b"", gz=True)),
        ("nifti_header_only", lambda f: _write(f / "hdr_only.nii", _nifti_header((64, 64, 64)))),
        (
            "nifti_gz_short_data",
            lambda f: _write(f / "short.nii.gz", _nifti_header((64, 64, 64)) + b"\x00" * 100, gz=True),
        ),
        (
            "nifti_gz_truncated_stream",
            lambda f: _write(f / "cut.nii.gz", gzip.compress(_nifti_header((8, 8, 8)) + z((8, 8, 8)))[:200]),
        ),
        ("nifti_huge_dims", lambda f: _write(f / "huge.nii", _nifti_header(big) + b"\x00" * 3000)),
        ("nifti_gz_huge_dims", lambda f: _write(f / "huge.nii.gz", _nifti_header(big) + b"\x00" * 3000, gz=True)),
        ("nifti_absurd_dims", lambda f: _write(f / "absurd.nii", _nifti_header((30000, 30000, 30000)) + b"\x00" * 100)),
        (
            "nifti_nan_pixdim",
            lambda f: _write(
                f / "nanpix.nii", _nifti_header((4, 4, 4), pixdim=[np.nan, 1, 1], sform_code=0) + z((4, 4, 4))
            ),
        ),
        (
            "nifti_zero_pixdim",
            lambda f: _write(
                f / "zeropix.nii", _nifti_header((4, 4, 4), pixdim=[0, 1, 1], sform_code=0) + z((4, 4, 4))
            ),
        ),
        (
            "nifti_negative_pixdim",
            lambda f: _write(
                f / "negpix.nii", _nifti_header((4, 4, 4), pixdim=[-1, 1, 1], sform_code=0) + z((4, 4, 4))
            ),
        ),
        (
            "nifti_nan_sform",
            lambda f: _write(
                f / "badsform.nii", _nifti_header((4, 4, 4), sform=np.full((4, 4), np.nan)) + z((4, 4, 4))
            ),
        ),
        (
            "nifti_singular_sform",
            lambda f: _write(
                f / "flat.nii", _nifti_header((4, 4, 4), sform=np.diag([1.0, 1.0, 0.0, 1.0])) + z((4, 4, 4))
            ),
        ),
        (
            "nifti_rank_deficient_sform",
            lambda f: _write(
                f / "rankdef.nii",
                _nifti_header((4, 4, 4), sform=[[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) + z((4, 4, 4)),
            ),
        ),
        (
            "nifti_nan_origin",
            lambda f: _write(
                f / "badorigin.nii",
                _nifti_header((4, 4, 4), sform=[[1, 0, 0, np.nan], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
                + z((4, 4, 4)),
            ),
        ),
        ("nifti_nan_voxels", lambda f: _nifti(f / "nanvox.nii.gz", np.full((4, 4, 4), np.nan, np.float32))),
        ("nifti_inf_voxels", lambda f: _nifti(f / "infvox.nii.gz", np.full((4, 4, 4), np.inf, np.float32))),
        ("nifti_4d", lambda f: _nifti(f / "four_d.nii.gz", np.zeros((4, 4, 4, 3), np.float32))),
        ("nifti_5d", lambda f: _nifti(f / "five_d.nii.gz", np.zeros((4, 4, 4, 2, 3), np.float32))),
        ("nifti_complex", lambda f: _nifti(f / "complex.nii.gz", np.zeros((4, 4, 4), np.complex64))),
        ("nifti_random_bytes", lambda f: _write(f / "random.nii", np.random.default_rng(1).bytes(2000))),
        ("nifti_text", lambda f: _write(f / "text.nii.gz", b"this is not an image\n")),
        ("nifti_fifo", lambda f: _fifo(f / "pipe.nii.gz")),
        ("nifti_missing", lambda f: f / "missing.nii.gz"),
        ("nifti_1d", lambda f: _nifti(f / "one_d.nii.gz", np.zeros((16,), np.float32))),
        ("nifti_one_voxel", lambda f: _nifti(f / "one_voxel.nii.gz", np.ones((1, 1, 1), np.float32))),
        ("nifti_constant", lambda f: _nifti(f / "flatvalue.nii.gz", np.zeros((20, 20, 20), np.float32))),
        ("nifti_folder_named_nii", lambda f: (f / "folder.nii").mkdir() or (f / "folder.nii")),
    ]
    return [_image_case(name, "nifti", make) for name, make in cases]


def _nrrd_cases() -> list[Case]:
    data = np.arange(64, dtype=np.float32).tobytes()  # a ramp: a constant image would be refused for that reason
    big = {**NRRD3, "sizes": "1200 1200 1200"}
    cases = [
        (
            "nrrd_nan_spacing",
            lambda f: _nrrd(
                f / "nanspacing.nrrd",
                {
                    **{k: v for k, v in NRRD3.items() if k not in ("space", "space directions", "space origin")},
                    "spacings": "nan 1 1",
                },
                data,
            ),
        ),
        (
            "nrrd_zero_spacing",
            lambda f: _nrrd(
                f / "zerospacing.nrrd",
                {
                    **{k: v for k, v in NRRD3.items() if k not in ("space", "space directions", "space origin")},
                    "spacings": "0 1 1",
                },
                data,
            ),
        ),
        ("nrrd_huge_raw", lambda f: _nrrd(f / "huge.nrrd", big, b"")),
        (
            "nrrd_huge_gzip",
            lambda f: _nrrd(f / "hugegz.nrrd", {**big, "encoding": "gzip"}, gzip.compress(b"\x00" * 64)),
        ),
        (
            "nrrd_gzip_short",
            lambda f: _nrrd(f / "shortgz.nrrd", {**NRRD3, "encoding": "gzip"}, gzip.compress(b"\x00" * 100)),
        ),
        (
            "nrrd_gzip_corrupt",
            lambda f: _nrrd(
                f / "corruptgz.nrrd", {**NRRD3, "encoding": "gzip"}, b"\x1f\x8b" + np.random.default_rng(2).bytes(200)
            ),
        ),
        ("nrrd_nan_origin", lambda f: _nrrd(f / "case_o.nrrd", {**NRRD3, "space origin": "(nan,0,0)"}, data)),
        (
            "nrrd_nan_direction",
            lambda f: _nrrd(f / "nandir.nrrd", {**NRRD3, "space directions": "(nan,0,0) (0,1,0) (0,0,1)"}, data),
        ),
        (
            "nrrd_zero_direction",
            lambda f: _nrrd(f / "zerodir.nrrd", {**NRRD3, "space directions": "(0,0,0) (0,1,0) (0,0,1)"}, data),
        ),
        (
            "nrrd_singular_directions",
            lambda f: _nrrd(f / "singdir.nrrd", {**NRRD3, "space directions": "(1,0,0) (1,0,0) (0,0,1)"}, data),
        ),
        ("nrrd_no_sizes", lambda f: _nrrd(f / "nosizes.nrrd", {k: v for k, v in NRRD3.items() if k != "sizes"}, data)),
        ("nrrd_garbage_header", lambda f: _write(f / "garbage.nrrd", b"NRRD0004\n\x00\xff\x01garbage\n\n" + data)),
        ("nrrd_bad_type", lambda f: _nrrd(f / "badtype.nrrd", {**NRRD3, "type": "quaternion"}, data)),
        ("nrrd_missing_detached", lambda f: _nrrd(f / "detached.nhdr", {**NRRD3, "data file": "nothere.raw"}, b"")),
        ("nrrd_raw_truncated", lambda f: _nrrd(f / "shortraw.nrrd", NRRD3, b"\x00" * 10)),
        ("nrrd_empty", lambda f: _write(f / "empty.nrrd", b"")),
        ("nrrd_absurd", lambda f: _nrrd(f / "absurd.nrrd", {**NRRD3, "sizes": "100000 100000 100000"}, b"")),
        ("nrrd_one_voxel", lambda f: _nrrd(f / "onevoxel.nrrd", {**NRRD3, "sizes": "1 1 1"}, b"\x00\x00\x80\x3f")),
    ]
    return [_image_case(name, "nrrd", make) for name, make in cases]


def _mha_cases() -> list[Case]:
    zeros = np.arange(64, dtype=np.float32).tobytes()  # a ramp (not constant)
    cases = [
        (
            "mha_compressed_huge",
            lambda f: _mha(
                f / "tiny_huge.mha",
                _mha_with(DimSize="1200 1200 1200", CompressedData="True", CompressedDataSize="12"),
                zlib.compress(b"\x00" * 16),
            ),
        ),
        (
            "mha_compressed_short",
            lambda f: _mha(
                f / "short.mha", _mha_with(CompressedData="True", CompressedDataSize="12"), zlib.compress(b"\x00" * 16)
            ),
        ),
        (
            "mha_compressed_corrupt",
            lambda f: _mha(
                f / "corrupt.mha",
                _mha_with(CompressedData="True", CompressedDataSize="100"),
                np.random.default_rng(3).bytes(100),
            ),
        ),
        ("mha_raw_truncated", lambda f: _mha(f / "cutmha.mha", MHA3, b"\x00" * 20)),
        ("mha_nan_spacing", lambda f: _mha(f / "nanspacing.mha", _mha_with(ElementSpacing="nan 1 1"), zeros)),
        ("mha_nan_offset", lambda f: _mha(f / "nanoffset.mha", _mha_with(Offset="nan 0 0"), zeros)),
        ("mha_zero_spacing", lambda f: _mha(f / "zerospacing.mha", _mha_with(ElementSpacing="0 1 1"), zeros)),
        (
            "mha_singular_direction",
            lambda f: _mha(f / "singdir.mha", _mha_with(TransformMatrix="1 0 0 1 0 0 0 0 1"), zeros),
        ),
        ("mhd_missing_data", lambda f: _mha(f / "detached.mhd", MHA3[:-1] + ["ElementDataFile = nothere.raw"], b"")),
        ("mha_garbage", lambda f: _write(f / "garbage.mha", np.random.default_rng(4).bytes(500))),
        ("mha_absurd_dims", lambda f: _mha(f / "absurd.mha", _mha_with(DimSize="100000 100000 100000"), b"")),
        ("mha_huge_raw", lambda f: _mha(f / "hugeraw.mha", _mha_with(DimSize="1200 1200 1200"), zeros)),
        ("mha_negative_dims", lambda f: _mha(f / "negdims.mha", _mha_with(DimSize="-4 4 4"), zeros)),
        ("mha_bad_type", lambda f: _mha(f / "badtype.mha", _mha_with(ElementType="MET_NOTHING"), zeros)),
        ("mha_empty", lambda f: _write(f / "empty.mha", b"")),
    ]
    return [_image_case(name, "mha", make) for name, make in cases]


def _dicom_cases() -> list[Case]:
    def broken_slice(folder: Path) -> Path:
        files = _dicom_series(folder / "series_broken")
        data = files[2].read_bytes()
        files[2].write_bytes(data[: len(data) - 300])
        return folder / "series_broken"

    def garbage_slice(folder: Path) -> Path:
        files = _dicom_series(folder / "series_garbage")
        data = bytearray(files[1].read_bytes())
        data[200:400] = np.random.default_rng(5).bytes(200)
        files[1].write_bytes(bytes(data))
        return folder / "series_garbage"

    def dicom_file_truncated(folder: Path) -> Path:
        files = _dicom_series(folder / "one")
        files[0].write_bytes(files[0].read_bytes()[:400])
        return files[0]

    def no_dicom(folder: Path) -> Path:
        (folder / "nodicom").mkdir()
        (folder / "nodicom" / "readme.txt").write_text("hello")
        return folder / "nodicom"

    cases = [
        ("dicom_broken_slice", broken_slice, "slice002.dcm"),
        ("dicom_garbage_slice", garbage_slice, None),
        ("dicom_file_truncated", dicom_file_truncated, None),
        (
            "dicom_random_dcm",
            lambda f: _write(f / "random.dcm", b"\x00" * 128 + b"DICM" + np.random.default_rng(6).bytes(300)),
            None,
        ),
        ("dicom_folder_without_dicom", no_dicom, None),
        ("dicom_empty_folder", lambda f: (f / "emptydir").mkdir() or (f / "emptydir"), None),
    ]
    return [_image_case(name, "dicom", make, expect) for name, make, expect in cases]


def _picture_cases() -> list[Case]:
    image = (_blob((64, 64)) * 2).astype(np.uint8)

    def truncated(name: str, cut: int) -> Callable[[Path], Path]:
        def make(folder: Path) -> Path:
            path = _png(folder / name, image) if name.endswith(".png") else None
            if path is None:
                from PIL import Image as PILImage

                path = folder / name
                PILImage.fromarray(np.random.default_rng(7).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) - cut] if cut > 0 else data[:-cut])
            return path

        return make

    def huge_png(folder: Path) -> Path:
        path = _png(folder / "huge.png", image)
        data = bytearray(path.read_bytes())
        struct.pack_into(">II", data, 16, 100000, 100000)
        crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
        struct.pack_into(">I", data, 29, crc)
        path.write_bytes(bytes(data))
        return path

    cases = [
        ("png_truncated", truncated("cut.png", 200)),
        ("png_truncated_half", truncated("half.png", 1000)),
        ("jpeg_truncated", truncated("cut.jpg", 1500)),
        ("jpeg_header_only", truncated("head.jpg", -300)),
        ("png_random", lambda f: _write(f / "random.png", np.random.default_rng(8).bytes(400))),
        ("png_empty", lambda f: _write(f / "empty.png", b"")),
        ("png_huge_dims", huge_png),
        ("tiff_truncated", lambda f: _write(f / "cut.tif", b"II*\x00" + struct.pack("<I", 8) + b"\x00" * 20)),
        ("tiff_random", lambda f: _write(f / "random.tif", b"II*\x00" + np.random.default_rng(9).bytes(300))),
        ("png_one_pixel", lambda f: _png(f / "onepixel.png", np.ones((1, 1), np.uint8))),
    ]
    out = [_image_case(name, "picture", make) for name, make in cases]

    def constant_2d(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder, 2)
        bad = _png(folder / "flat2d.png", np.zeros((32, 32), np.uint8))
        return ["register", str(bad), str(moving), "-o", str(folder / "out"), *REGISTER_FAST], bad.name

    def mismatch_2d_3d(folder: Path) -> tuple[list[str], str]:
        fixed2d, _ = good_pair(folder, 2)
        _, moving3d = good_pair(folder, 3)
        return ["register", str(fixed2d), str(moving3d), "-o", str(folder / "out"), *REGISTER_FAST], fixed2d.name

    out += [
        _args_case("png_constant_register", "picture", constant_2d),
        _args_case("png_2d_vs_3d", "picture", mismatch_2d_3d),
    ]
    return out


def _npz_cases() -> list[Case]:
    cases = [
        ("npz_random_zip", lambda f: _write(f / "random.npz", b"PK\x03\x04" + np.random.default_rng(10).bytes(300))),
        ("npz_missing_key", lambda f: _npz(f / "nokey.npz", other=np.zeros((4, 4, 4)))),
        ("npz_object_array", lambda f: _npz(f / "object.npz", vol=np.array([{"a": 1}, None], dtype=object))),
        ("npz_1d", lambda f: _npz(f / "one_d.npz", vol=np.zeros(10))),
        ("npz_strings", lambda f: _npz(f / "strings.npz", vol=np.array(["a", "b"]))),
        ("npz_nan", lambda f: _npz(f / "nan.npz", vol=np.full((4, 4, 4), np.nan))),
        (
            "npz_truncated",
            lambda f: _write(f / "cut.npz", (_npz(f / "full.npz", vol=np.zeros((8, 8, 8))).read_bytes())[:150]),
        ),
        (
            "npz_plain_npy",
            lambda f: (
                np.save(f / "plain.npy", np.zeros((4, 4, 4))),
                _write(f / "plain.npz", (f / "plain.npy").read_bytes()),
            )[1],
        ),
        (
            "npz_huge_header",
            lambda f: _write(f / "hugehdr.npz", _zip_with("vol.npy", _npy_header_claiming((1200, 1200, 1200)))),
        ),
    ]
    return [_image_case(name, "npz", make) for name, make in cases]


def _transform_cases() -> list[Case]:
    def random_h5(folder: Path) -> Path:
        import h5py

        with h5py.File(folder / "random.h5", "w") as handle:
            handle["data"] = np.arange(10)
        return folder / "random.h5"

    centre = [0.0, 0.0, 0.0]
    nan_field = np.zeros((20, 20, 20, 3))
    nan_field[5, 5, 5, 0] = np.nan
    cases = [
        (
            "tfm_singular_init",
            lambda f: _tfm(f / "flat.tfm", "AffineTransform_double_3_3", [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], centre),
            "init",
        ),
        (
            "tfm_zero_scale_render",
            lambda f: _tfm(
                f / "zeroscale.tfm", "AffineTransform_double_3_3", [0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], centre
            ),
            "render",
        ),
        (
            "tfm_singular_render",
            lambda f: _tfm(
                f / "flat_r.tfm", "AffineTransform_double_3_3", [1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0], centre
            ),
            "render",
        ),
        (
            "tfm_nan_parameters",
            lambda f: _tfm(f / "badparams.tfm", "AffineTransform_double_3_3", [np.nan] * 12, centre),
            "init",
        ),
        (
            "tfm_similarity_zero_scale",
            lambda f: _tfm(f / "sim0.tfm", "Similarity3DTransform_double_3_3", [0, 0, 0, 0, 0, 0, 0], centre),
            "init",
        ),
        ("h5_random", random_h5, "init"),
        ("h5_random_render", lambda f: (random_h5(f), f / "random.h5")[1], "render"),
        ("tfm_empty", lambda f: _write(f / "nothing.tfm", b""), "init"),
        ("tfm_garbage", lambda f: _write(f / "garbage.tfm", b"hello world\n"), "init"),
        ("field_nan_init", lambda f: _field(f / "holes_field.mha", nan_field), "init"),
        ("field_nan_render", lambda f: _field(f / "holes_field_r.mha", nan_field), "render"),
        ("field_wrong_components", lambda f: _field(f / "twocomp.nii.gz", np.zeros((20, 20, 20, 2))), "init"),
        (
            "tfm_bad_parameter_count",
            lambda f: _tfm(f / "badcount.tfm", "AffineTransform_double_3_3", [1, 0, 0], centre),
            "init",
        ),
        ("mat_random", lambda f: _write(f / "random.mat", np.random.default_rng(11).bytes(200)), "init"),
        (
            "tfm_2d_for_3d",
            lambda f: _tfm(f / "two_d.tfm", "AffineTransform_double_2_2", [1, 0, 0, 1, 0, 0], [0, 0]),
            "init",
        ),
        ("tfm_fifo", lambda f: _fifo(f / "pipe.tfm"), "init"),
    ]
    return [_transform_case(name, make, command) for name, make, command in cases]


def _landmark_cases() -> list[Case]:
    def convert(
        make: Callable[[Path], Path], output: str = "out.fcsv", expect: str | None = None
    ) -> Callable[[Path], tuple[list[str], str]]:
        def build(folder: Path) -> tuple[list[str], str]:
            source = make(folder)
            return ["landmarks", "convert", str(source), str(folder / output)], expect or source.name

        return build

    def nested(folder: Path) -> Path:
        path = folder / "deepdoc.mrk.json"
        path.write_text("[" * 100000 + "]" * 100000)
        return path

    good_csv = "name,x,y,z\np1,1,2,3\np2,4,5,6\n"

    def same_file(folder: Path) -> tuple[list[str], str]:
        path = _write(folder / "points.csv", good_csv.encode())
        return ["landmarks", "convert", str(path), str(path)], "points.csv"

    def symlink(folder: Path) -> tuple[list[str], str]:
        path = _write(folder / "points.csv", good_csv.encode())
        (folder / "link.csv").symlink_to(path)
        return ["landmarks", "convert", str(path), str(folder / "link.csv")], "link.csv"

    def hardlink(folder: Path) -> tuple[list[str], str]:
        path = _write(folder / "points.csv", good_csv.encode())
        os.link(path, folder / "hard.csv")
        return ["landmarks", "convert", str(path), str(folder / "hard.csv")], "hard.csv"

    def dotdot(folder: Path) -> tuple[list[str], str]:
        path = _write(folder / "points.csv", good_csv.encode())
        (folder / "sub").mkdir()
        return ["landmarks", "convert", str(path), str(folder / "sub" / ".." / "points.csv")], "points.csv"

    def moving_same(folder: Path) -> tuple[list[str], str]:
        path = _write(folder / "points.csv", good_csv.encode())
        moving = _write(folder / "moving.csv", good_csv.encode())
        return ["landmarks", "convert", str(path), str(moving), "--moving", str(moving)], "moving.csv"

    def register_header_only(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        a = _write(folder / "fixed_hdr.csv", b"name,x,y,z\n")
        b = _write(folder / "moving_hdr.csv", b"name,x,y,z\n")
        return _register(
            fixed, folder, extra=["--fixed-landmarks", str(a), "--moving-landmarks", str(b)]
        ), "fixed_hdr.csv"

    cases = [
        ("csv_header_only", convert(lambda f: _write(f / "header_only.csv", b"name,x,y,z\n"))),
        ("csv_empty", convert(lambda f: _write(f / "empty.csv", b""))),
        ("csv_nan", convert(lambda f: _write(f / "nan.csv", b"name,x,y,z\np1,nan,2,3\n"))),
        ("csv_text_coordinate", convert(lambda f: _write(f / "text.csv", b"name,x,y,z\np1,abc,2,3\n"))),
        ("csv_binary", convert(lambda f: _write(f / "binary.csv", np.random.default_rng(12).bytes(300)))),
        (
            "fcsv_garbage",
            convert(
                lambda f: _write(
                    f / "garbage.fcsv",
                    b"# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\nvtkMRMLMarkupsFiducialNode_0,abc\n",
                )
            ),
        ),
        (
            "fcsv_header_only",
            convert(
                lambda f: _write(
                    f / "hdr.fcsv",
                    b"# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n",
                ),
                "out.csv",
            ),
        ),
        ("mrk_json_nested", convert(nested)),
        ("mrk_json_invalid", convert(lambda f: _write(f / "invalid.mrk.json", b"{not json"))),
        (
            "mrk_json_no_points",
            convert(
                lambda f: _write(
                    f / "nopoints.mrk.json",
                    json.dumps(
                        {"markups": [{"type": "Fiducial", "coordinateSystem": "LPS", "controlPoints": []}]}
                    ).encode(),
                ),
                "out.csv",
            ),
        ),
        ("elastix_bad_count", convert(lambda f: _write(f / "points.txt", b"point\n5\n1 2 3\n"), "out.csv")),
        ("landmarks_fifo", convert(lambda f: _fifo(f / "pipe.csv"))),
        ("convert_same_file", same_file),
        ("convert_symlink_to_input", symlink),
        ("convert_hardlink_to_input", hardlink),
        ("convert_dotdot_to_input", dotdot),
        ("convert_output_is_moving_input", moving_same),
        ("register_header_only_landmarks", register_header_only),
    ]
    return [_args_case(name, "landmarks", build) for name, build in cases]


def _output_cases() -> list[Case]:
    def into_inputs(input_name: str, role: str) -> Callable[[Path], tuple[list[str], str]]:
        def build(folder: Path) -> tuple[list[str], str]:
            fixed, moving = good_pair(folder)
            out = folder / "results"
            out.mkdir()
            target = out / input_name
            target.write_bytes((moving if role == "moving" else fixed).read_bytes())
            pair = [str(fixed), str(target)] if role == "moving" else [str(target), str(moving)]
            return ["register", *pair, "-o", str(out), *REGISTER_FAST], input_name

        return build

    def out_is_file(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        out = _write(folder / "notafolder", b"x")
        return ["register", str(fixed), str(moving), "-o", str(out), *REGISTER_FAST], "notafolder"

    def out_under_file(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        _write(folder / "afile", b"x")
        return ["register", str(fixed), str(moving), "-o", str(folder / "afile" / "out"), *REGISTER_FAST], "afile"

    def out_read_only(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        out = _read_only_folder(folder / "readonly")
        return ["register", str(fixed), str(moving), "-o", str(out), *REGISTER_FAST], "readonly"

    def labels_into_out(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        out = folder / "results"
        out.mkdir()
        labels = _nifti(out / "warped_labels.nii.gz", (np.arange(8000).reshape(20, 20, 20) % 3).astype(np.uint8))
        return [
            "register",
            str(fixed),
            str(moving),
            "-o",
            str(out),
            "--moving-labels",
            str(labels),
            "--fixed-labels",
            str(labels),
            *REGISTER_FAST,
        ], "warped_labels.nii.gz"

    def render_onto(make_link: bool) -> Callable[[Path], tuple[list[str], str]]:
        def build(folder: Path) -> tuple[list[str], str]:
            fixed, moving = good_pair(folder, 2)
            target = fixed
            if make_link:
                (folder / "alias.png").symlink_to(fixed)
                target = folder / "alias.png"
            return ["render", str(fixed), str(moving), "-o", str(target)], target.name

        return build

    def metrics_input(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        out = folder / "results"
        out.mkdir()
        landmarks = _write(out / "metrics.json", b"{}")
        return [
            "register",
            str(fixed),
            str(moving),
            "-o",
            str(out),
            "--preset",
            str(landmarks),
            *REGISTER_FAST[2:],
        ], "metrics.json"

    return [
        _args_case("out_holds_moving_warped", "output", into_inputs("warped.nii.gz", "moving")),
        _args_case("out_holds_fixed_jacobian", "output", into_inputs("jacobian.nii.gz", "fixed")),
        _args_case("out_holds_displacement", "output", into_inputs("displacement.nii.gz", "moving")),
        _args_case("out_is_a_file", "output", out_is_file),
        _args_case("out_under_a_file", "output", out_under_file),
        *([_args_case("out_read_only", "output", out_read_only)] if os.geteuid() != 0 else []),  # root writes anywhere
        _args_case("out_holds_labels", "output", labels_into_out),
        _args_case("render_onto_input", "output", render_onto(False)),
        _args_case("render_onto_symlink", "output", render_onto(True)),
        _args_case("preset_named_metrics_in_out", "output", metrics_input),
    ]


def _run_cases() -> list[Case]:
    def masks(fixed_box: tuple[slice, ...], moving_box: tuple[slice, ...], expect: str, empty: bool = False):
        def build(folder: Path) -> tuple[list[str], str]:
            fixed, moving = good_pair(folder)
            a, b = np.zeros((20, 20, 20), np.uint8), np.zeros((20, 20, 20), np.uint8)
            a[fixed_box] = 1
            if not empty:
                b[moving_box] = 1
            fm, mm = _nifti(folder / "fixed_mask.nii.gz", a), _nifti(folder / "moving_mask.nii.gz", b)
            return [
                "register",
                str(fixed),
                str(moving),
                "-o",
                str(folder / "out"),
                "--fixed-mask",
                str(fm),
                "--moving-mask",
                str(mm),
                *REGISTER_FAST,
            ], expect

        return build

    def far_apart(method: list[str]):
        def build(folder: Path) -> tuple[list[str], str]:
            fixed, _ = good_pair(folder)
            far = _nifti(
                folder / "far_moving.nii.gz",
                _blob((20, 20, 20)).T,
                np.diag([1.0, 1, 1, 1]) + np.eye(4, k=3) * 0 + _translation(500),
            )
            return ["register", str(fixed), str(far), "-o", str(folder / "out"), *method], "do not overlap"

        return build

    def nested_preset(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        preset = _write(folder / "deep.json", ("[" * 100000 + "]" * 100000).encode())
        return ["register", str(fixed), str(moving), "-o", str(folder / "out"), "--preset", str(preset)], "deep.json"

    def bad_mask_values(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        mask = _nifti(folder / "float_mask.nii.gz", np.random.default_rng(13).random((20, 20, 20)).astype(np.float32))
        return [
            "register",
            str(fixed),
            str(moving),
            "-o",
            str(folder / "out"),
            "--fixed-mask",
            str(mask),
            *REGISTER_FAST,
        ], "float_mask.nii.gz"

    def mask_2d(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        mask = _nifti(folder / "flat_mask.nii.gz", np.ones((20, 20), np.uint8))
        return [
            "register",
            str(fixed),
            str(moving),
            "-o",
            str(folder / "out"),
            "--fixed-mask",
            str(mask),
            *REGISTER_FAST,
        ], "flat_mask.nii.gz"

    def render_2d_3d(folder: Path) -> tuple[list[str], str]:
        fixed2d, _ = good_pair(folder, 2)
        _, moving3d = good_pair(folder, 3)
        return ["render", str(fixed2d), str(moving3d), "-o", str(folder / "figure.png")], moving3d.name

    def render_labels_2d_3d(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder, 3)
        labels = _png(folder / "labels2d.png", np.ones((20, 20), np.uint8))
        return [
            "render",
            str(fixed),
            str(moving),
            "-o",
            str(folder / "figure.png"),
            "--labels",
            str(labels),
        ], labels.name

    def labels_spec(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        return _register(fixed, folder, extra=["--labels", "a,b"]), "--labels"

    def debug_after(folder: Path) -> tuple[list[str], str]:
        fixed, moving = good_pair(folder)
        missing = folder / "nothere.nii.gz"
        return ["register", str(missing), str(moving), "-o", str(folder / "out"), "--debug"], "nothere.nii.gz"

    return [
        _args_case("masks_do_not_overlap", "run", masks((slice(0, 5),) * 3, (slice(15, 20),) * 3, "fixed_mask.nii.gz")),
        _args_case(
            "moving_mask_empty", "run", masks((slice(0, 5),) * 3, (slice(0, 5),) * 3, "moving_mask.nii.gz", empty=True)
        ),
        _args_case(
            "images_do_not_overlap_affine", "run", far_apart([*REGISTER_FAST, "--param", "initialization=none"])
        ),
        _args_case("images_do_not_overlap_bspline", "run", far_apart(["--method", "bspline"])),
        _args_case("nested_json_preset", "run", nested_preset),
        _args_case("mask_not_labels", "run", bad_mask_values),
        _args_case("mask_2d_for_3d", "run", mask_2d),
        _args_case("render_2d_vs_3d", "run", render_2d_3d),
        _args_case("render_labels_2d_vs_3d", "run", render_labels_2d_3d),
        _args_case("labels_not_numbers", "run", labels_spec),
        Case("debug_after_command", "run", debug_after, traceback_expected=True),
    ]


def _translation(mm: float) -> np.ndarray:
    matrix = np.zeros((4, 4))
    matrix[0, 3] = mm
    return matrix


#: The true reason each of these cases must give (a regular expression, case-insensitive): a one-line
#: message naming the file is not enough when it says something else (e.g. "not enough memory" for a
#: 132-byte file, or "the image is constant" for a truncated one read as zeros).
REASONS = {
    "nifti_header_only": "truncated",
    "nifti_gz_short_data": "truncated",
    "nifti_gz_truncated_stream": "truncated",
    "nifti_huge_dims": "truncated",
    "nifti_gz_huge_dims": "truncated|corrupt",
    "nifti_absurd_dims": "truncated",
    "nifti_nan_pixdim": "voxel size",
    "nifti_zero_pixdim": "voxel size",
    "nifti_negative_pixdim": "voxel size",
    "nifti_nan_sform": "nan or inf",
    "nifti_singular_sform": "zero-length|singular",
    "nifti_rank_deficient_sform": "singular",
    "nifti_nan_origin": "nan or inf",
    "nifti_nan_voxels": "not finite",
    "nifti_fifo": "not a regular file",
    "nifti_missing": "not found",
    "nifti_one_voxel": "too small",
    "nifti_constant": "constant",
    "nifti_4d": "4D",
    "nrrd_nan_spacing": "not a number",
    "nrrd_zero_spacing": "zero or negative",
    "nrrd_huge_raw": "truncated",
    "nrrd_huge_gzip": "truncated|corrupt",
    "nrrd_gzip_short": "truncated",
    "nrrd_nan_origin": "origin",
    "nrrd_nan_direction": "direction",
    "nrrd_zero_direction": "zero-length",
    "nrrd_singular_directions": "singular|dependent",
    "nrrd_raw_truncated": "truncated",
    "nrrd_absurd": "truncated",
    "nrrd_one_voxel": "too small",
    "nrrd_missing_detached": "missing",
    "mha_compressed_huge": "truncated|corrupt",
    "mha_compressed_short": "truncated",
    "mha_compressed_corrupt": "corrupt",
    "mha_raw_truncated": "truncated",
    "mha_nan_spacing": "not a number",
    "mha_nan_offset": "origin",
    "mha_zero_spacing": "zero or negative",
    "mha_singular_direction": "singular",
    "mha_absurd_dims": "truncated",
    "mha_huge_raw": "truncated",
    "mhd_missing_data": "missing",
    "dicom_broken_slice": "broken|truncated",
    "dicom_garbage_slice": "cannot be read|corrupt|broken",
    "png_truncated": "truncated|corrupt",
    "png_truncated_half": "truncated|corrupt",
    "jpeg_truncated": "truncated|corrupt",
    "jpeg_header_only": "truncated|corrupt",
    "png_one_pixel": "too small",
    "png_constant_register": "constant",
    "npz_huge_header": "truncated",
    "npz_nan": "not finite",
    "tfm_singular_init": "singular",
    "tfm_zero_scale_render": "singular",
    "tfm_singular_render": "singular",
    "tfm_nan_parameters": "nan or inf",
    "tfm_similarity_zero_scale": "singular",
    "h5_random": "hdf5",
    "h5_random_render": "hdf5",
    "tfm_empty": "empty",
    "field_nan_init": "nan or inf",
    "field_nan_render": "nan or inf",
    "tfm_fifo": "not a regular file",
    "csv_header_only": "no landmarks",
    "fcsv_header_only": "no landmarks",
    "mrk_json_nested": "nested",
    "mrk_json_no_points": "no landmarks",
    "landmarks_fifo": "not a regular file",
    "convert_same_file": "overwrite",
    "convert_symlink_to_input": "overwrite",
    "convert_hardlink_to_input": "overwrite",
    "convert_dotdot_to_input": "overwrite",
    "convert_output_is_moving_input": "overwrite",
    "out_holds_moving_warped": "overwrite",
    "out_holds_fixed_jacobian": "overwrite",
    "out_holds_displacement": "overwrite",
    "out_holds_labels": "overwrite",
    "render_onto_input": "overwrite",
    "render_onto_symlink": "overwrite",
    "preset_named_metrics_in_out": "overwrite",
    "out_is_a_file": "existing file",
    "out_under_a_file": "is a file",
    "masks_do_not_overlap": "moving_mask.nii.gz.*do not overlap",
    "images_do_not_overlap_affine": "do not overlap",
    "images_do_not_overlap_bspline": "do not overlap",
    "nested_json_preset": "nested",
    "render_2d_vs_3d": "3D",
    "render_labels_2d_vs_3d": "2D",
}


def all_cases() -> list[Case]:
    cases = [
        *_nifti_cases(),
        *_nrrd_cases(),
        *_mha_cases(),
        *_dicom_cases(),
        *_picture_cases(),
        *_npz_cases(),
        *_transform_cases(),
        *_landmark_cases(),
        *_output_cases(),
        *_run_cases(),
    ]
    for case in cases:
        case.reason = REASONS.get(case.name, "")
    return cases
