"""Files for the bad-input corpus (tests/corpus.py): good pairs and byte-level builders of broken files."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np

REGISTER_FAST = [
    "--method",
    "affine",
    "--param",
    "iterations=3",
    "--param",
    "shrink_factors=2,1",
    "--param",
    "smoothing_sigmas=1,0",
]


# ---- good inputs -------------------------------------------------------------------------------
def _blob(shape: tuple[int, ...], shift: float = 0.0) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    centre = [(n - 1) / 2 + (shift if axis == len(shape) - 1 else 0) for axis, n in enumerate(shape)]
    radius2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    return (100.0 * np.exp(-radius2 / (2 * (min(shape) / 5) ** 2))).astype(np.float32)


def _nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None, **header) -> Path:
    import nibabel as nib

    image = nib.Nifti1Image(array, np.eye(4) if affine is None else affine)
    image.set_sform(image.affine, code=1)
    image.set_qform(image.affine, code=1)
    for key, value in header.items():
        image.header[key] = value
    nib.save(image, str(path))
    return path


def good_pair(folder: Path, ndim: int = 3) -> tuple[Path, Path]:
    """A small fixed / moving pair (NIfTI in 3D, PNG in 2D)."""
    folder.mkdir(parents=True, exist_ok=True)
    if ndim == 3:
        return (
            _nifti(folder / "good_fixed.nii.gz", _blob((20, 20, 20)).T),
            _nifti(folder / "good_moving.nii.gz", _blob((20, 20, 20), 1.5).T),
        )
    from PIL import Image as PILImage

    paths = []
    for name, shift in (("good_fixed2d.png", 0.0), ("good_moving2d.png", 1.5)):
        PILImage.fromarray(_blob((32, 32), shift).astype(np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths[0], paths[1]


def _register(bad: Path, folder: Path, role: str = "fixed", extra: list[str] | None = None, ndim: int = 3) -> list[str]:
    fixed, moving = good_pair(folder, ndim)
    pair = [str(bad), str(moving)] if role == "fixed" else [str(fixed), str(bad)]
    return ["register", *pair, "-o", str(folder / "out"), *REGISTER_FAST, *(extra or [])]


# ---- byte-level builders -----------------------------------------------------------------------
def _nifti_header(shape, dtype=np.float32, pixdim=None, sform=None, qform_code=0, sform_code=1) -> bytes:
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    if pixdim is not None:
        header["pixdim"][1 : 1 + len(pixdim)] = pixdim
    affine = np.diag([1.0, 1.0, 1.0, 1.0]) if sform is None else np.asarray(sform, dtype=float)
    header.set_sform(affine, code=sform_code)
    header["qform_code"] = qform_code
    header["vox_offset"] = 352
    return header.binaryblock + b"\x00" * 4


def _write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _mha(path: Path, lines: list[str], data: bytes) -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode() + data)
    return path


def _nrrd(path: Path, fields: dict[str, str], data: bytes) -> Path:
    text = "NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n"
    path.write_bytes(text.encode() + data)
    return path


NRRD3 = {
    "type": "float",
    "dimension": "3",
    "space": "left-posterior-superior",
    "sizes": "4 4 4",
    "space directions": "(1,0,0) (0,1,0) (0,0,1)",
    "encoding": "raw",
    "endian": "little",
    "space origin": "(0,0,0)",
}
MHA3 = [
    "ObjectType = Image",
    "NDims = 3",
    "DimSize = 4 4 4",
    "ElementSpacing = 1 1 1",
    "Offset = 0 0 0",
    "ElementType = MET_FLOAT",
    "ElementDataFile = LOCAL",
]


def _mha_with(**changes) -> list[str]:
    lines = []
    for line in MHA3:
        key = line.split(" = ")[0]
        lines.append(f"{key} = {changes.pop(key)}" if key in changes else line)
    data_line = lines.pop()
    return lines + [f"{k} = {v}" for k, v in changes.items()] + [data_line]


def _png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image as PILImage

    PILImage.fromarray(array).save(path)
    return path


def _dicom_series(folder: Path, n: int = 5) -> list[Path]:
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    volume = _blob((n, 16, 16)).astype(np.int16)
    files = []
    for index in range(n):
        image = sitk.GetImageFromArray(volume[index])
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        for tag, value in (
            ("0020|000d", "1.2.3.4"),
            ("0020|000e", "1.2.3.4.5"),
            ("0008|0060", "CT"),
            ("0020|0032", f"0\\0\\{index * 2.0}"),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0028|0030", "1\\1"),
            ("0018|0050", "2"),
            ("0020|0013", str(index + 1)),
            ("0008|0018", f"1.2.3.4.5.{index + 1}"),
        ):
            image.SetMetaData(tag, value)
        path = folder / f"slice{index:03d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(image)
        files.append(path)
    return files


def _tfm(path: Path, kind: str, parameters: list[float], fixed: list[float]) -> Path:
    path.write_text(
        "#Insight Transform File V1.0\n#Transform 0\n"
        f"Transform: {kind}\nParameters: {' '.join(map(str, parameters))}\n"
        f"FixedParameters: {' '.join(map(str, fixed))}\n"
    )
    return path


def _field(path: Path, values: np.ndarray) -> Path:
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(values.astype(np.float32), isVector=True), str(path))
    return path


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _npy_header_claiming(shape) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\x00" * 64


def _zip_with(name: str, data: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _read_only_folder(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o555)
    return path
