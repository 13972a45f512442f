"""Property-based fuzzing of the readers: damaged files give a RegViewerError in one line, nothing else.

Valid files of every format are damaged by hypothesis (bytes overwritten, truncated, header values
replaced); each reader must either read the file or raise a ``RegViewerError`` whose message is one
line naming the file. The number of examples is bounded so the suite stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regviewer.core.errors import RegViewerError
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image, write_image
from regviewer.core.io.landmark_formats import PointSet, read_landmark_file, write_point_set
from regviewer.core.io.transforms_io import read_transform, write_transform
from regviewer.core.transforms import AffineTransform

FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _valid_files(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    array = np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8) % 23
    image = Image(array, Geometry((6, 7, 8), (1.0, 1.5, 2.0), (3.0, -4.0, 5.0)))
    picture = Image.from_array(np.arange(16 * 12, dtype=np.uint8).reshape(16, 12))
    files = {}
    for name, item in (
        ("a.nii.gz", image),
        ("a.nii", image),
        ("a.nrrd", image),
        ("a.mha", image),
        ("a.npz", image),
        ("a.png", picture),
        ("a.tif", picture),
    ):
        files[name] = write_image(item, folder / name).read_bytes()
    files["a.tfm"] = write_transform(
        AffineTransform(np.diag([1.1, 0.9, 1.0]), [1, 2, 3]), folder / "a.tfm"
    ).read_bytes()
    points = PointSet(["p1", "p2"], np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), [True, True])
    for name in ("a.csv", "a.fcsv", "a.mrk.json"):
        files[name] = write_point_set(folder / name, points).read_bytes()
    return files


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, bytes]:
    return _valid_files(tmp_path_factory.mktemp("valid"))


def _read(path: Path) -> None:
    if path.name.endswith(".tfm"):
        read_transform(path)
    elif path.name.endswith((".csv", ".fcsv", ".json")):
        read_landmark_file(path)
    else:
        read_image(path)


def _check_reader(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        _read(path)
    except RegViewerError as error:
        message = str(error)
        assert "\n" not in message and path.name in message, message
    # any other exception propagates and fails the property


NAMES = ["a.nii.gz", "a.nii", "a.nrrd", "a.mha", "a.npz", "a.png", "a.tif", "a.tfm", "a.csv", "a.fcsv", "a.mrk.json"]


@FUZZ
@given(name=st.sampled_from(NAMES), cut=st.floats(0.0, 1.0))
def test_truncated_files(valid, tmp_path, name, cut):
    data = valid[name]
    _check_reader(tmp_path / name, data[: int(len(data) * cut)])


@FUZZ
@given(name=st.sampled_from(NAMES), where=st.floats(0.0, 1.0), junk=st.binary(min_size=1, max_size=16))
def test_overwritten_bytes(valid, tmp_path, name, where, junk):
    data = bytearray(valid[name])
    start = min(int(len(data) * where), len(data) - 1)
    data[start : start + len(junk)] = junk
    _check_reader(tmp_path / name, bytes(data))


HEADER_VALUES = st.one_of(
    st.integers(-5, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "-inf", "0", "1e308", "abc", "1 2", "(nan,0,0)", "(0,0,0) (0,0,0) (0,0,0)"]),
)


@FUZZ
@given(
    key=st.sampled_from(["sizes", "spacings", "space origin", "space directions", "type", "encoding", "dimension"]),
    value=HEADER_VALUES,
)
def test_nrrd_header_values(valid, tmp_path, key, value):
    data = valid["a.nrrd"]
    header, _, payload = data.partition(b"\n\n")
    lines = [line for line in header.decode("latin-1").splitlines() if not line.lower().startswith(key + ":")]
    lines.insert(1, f"{key}: {value}")
    _check_reader(tmp_path / "a.nrrd", "\n".join(lines).encode("latin-1") + b"\n\n" + payload)


@FUZZ
@given(
    key=st.sampled_from(
        [
            "DimSize",
            "ElementSpacing",
            "Offset",
            "TransformMatrix",
            "ElementType",
            "CompressedDataSize",
            "NDims",
            "ElementNumberOfChannels",
        ]
    ),
    value=HEADER_VALUES,
)
def test_metaimage_header_values(valid, tmp_path, key, value):
    data = valid["a.mha"]
    marker = data.index(b"ElementDataFile")
    end = data.index(b"\n", marker) + 1
    lines = [line for line in data[:end].decode("latin-1").splitlines() if not line.startswith(key)]
    lines.insert(1, f"{key} = {value}")
    _check_reader(tmp_path / "a.mha", ("\n".join(lines) + "\n").encode("latin-1") + data[end:])


@FUZZ
@given(
    field=st.sampled_from(
        [
            "dim",
            "pixdim",
            "srow_x",
            "srow_y",
            "srow_z",
            "vox_offset",
            "bitpix",
            "datatype",
            "sform_code",
            "qform_code",
            "quatern_b",
            "qoffset_x",
        ]
    ),
    index=st.integers(0, 7),
    value=st.floats(allow_nan=True, allow_infinity=True, width=32),
)
def test_nifti_header_values(tmp_path, field, index, value):
    import nibabel as nib

    image = nib.Nifti1Image(np.arange(6 * 7 * 8, dtype=np.float32).reshape(8, 7, 6) % 19, np.diag([1.0, 1.5, 2.0, 1.0]))
    header = image.header
    header.set_sform(image.affine, code=1)
    current = np.atleast_1d(np.asarray(header[field]))
    try:
        if current.size > 1:
            current[index % current.size] = value
            header[field] = current
        else:
            header[field] = value
    except (ValueError, OverflowError, TypeError):
        return  # a value this field cannot even hold
    block = header.binaryblock
    data = np.asarray(image.dataobj).tobytes(order="F")
    _check_reader(tmp_path / "a.nii", block + b"\0" * 4 + data)


@FUZZ
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20,
    )
)
def test_markups_json_of_any_shape(tmp_path, document):
    _check_reader(tmp_path / "a.mrk.json", json.dumps({"markups": [document]}).encode())
