"""DICOM series reading (a folder of slices) through SimpleITK / GDCM.

The folder and its subfolders are scanned; when they hold several series the one with the most
files is read and the choice is logged with the others listed. Slice positions are checked: an
unevenly spaced series (missing slices, mixed acquisitions) gets a warning, since a regular grid
cannot place its slices exactly. DICOM positions are already LPS, so no axis is flipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from regviewer.core.errors import ImageReadError
from regviewer.core.io._common import logger, quiet_itk
from regviewer.core.io.file_checks import check_memory

_POSITION_TAG = "0020|0032"
_DESCRIPTION_TAG = "0008|103e"


def find_series(folder: Path) -> list[tuple[str, list[str]]]:
    """Every DICOM series under ``folder`` as (series instance UID, sorted file names), largest first."""
    directories_by_uid: dict[str, list[str]] = {}
    with quiet_itk():
        for directory, _, files in sorted(os.walk(folder)):
            if not files:
                continue
            for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(directory):
                directories_by_uid.setdefault(uid, []).append(directory)
        series = []
        for uid, directories in directories_by_uid.items():
            if len(directories) == 1:
                names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(directories[0], uid)
            else:  # one series spread over several folders: let GDCM sort all its files
                names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid, False, True)
            series.append((uid, list(names)))
    series.sort(key=lambda item: (-len(item[1]), item[0]))
    return series


def _warn_if_uneven(reader: sitk.ImageSeriesReader, image: sitk.Image, source: str) -> None:
    n_slices = len(reader.GetFileNames())
    if n_slices < 3 or image.GetDimension() != 3:
        return
    positions = []
    for index in range(n_slices):
        if not reader.HasMetaDataKey(index, _POSITION_TAG):
            return
        try:
            positions.append([float(v) for v in reader.GetMetaData(index, _POSITION_TAG).split("\\")])
        except ValueError:
            return
    normal = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
    gaps = np.diff(np.asarray(positions) @ normal)
    if np.ptp(gaps) > max(1e-3, 0.01 * abs(float(np.mean(gaps)))):
        logger.warning(
            "%s: DICOM slices are unevenly spaced (gaps %.4g..%.4g mm): the regular grid read "
            "(spacing %.4g mm) misplaces some slices",
            source,
            float(gaps.min()),
            float(gaps.max()),
            image.GetSpacing()[2],
        )


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def pixel_data_problem(path: Path) -> str:
    """Why the pixel data of a DICOM file is incomplete ("" when it looks whole).

    The last Pixel Data element (7FE0,0010) is found in the bytes and its declared length compared
    with the bytes that follow; encapsulated (compressed) data must end with its sequence delimiter.
    GDCM reads a truncated slice as zeros instead of failing, which would put a black slice into
    the volume without a word.
    """
    data = path.read_bytes()
    position = data.rfind(_PIXEL_DATA_TAG)
    if position < 0:
        return "it holds no pixel data" if data[128:132] == b"DICM" else ""  # not DICOM at all: GDCM says so
    after = data[position + 4 :]
    if after[:2] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN", b"OV"):
        length, start = int.from_bytes(after[4:8], "little"), 8
    else:
        length, start = int.from_bytes(after[0:4], "little"), 4
    if length == 0xFFFFFFFF:
        return "" if _SEQUENCE_END in data[-64:] else "its compressed pixel data is truncated"
    present = len(after) - start
    if present < length:
        return f"its pixel data is truncated ({present} of {length} bytes)"
    return ""


def _looks_like_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def check_series_files(folder: Path, series: list[tuple[str, list[str]]], chosen: list[str]) -> None:
    """Refuse a folder holding DICOM files GDCM could not place in any series, and truncated slices.

    Raises:
        ImageReadError: naming the first bad file (RegViewer never drops a slice silently).
    """
    listed = {str(Path(name).resolve()) for _, names in series for name in names}
    for directory, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = Path(directory) / name
            if str(path.resolve()) not in listed and _looks_like_dicom(path):
                raise ImageReadError(
                    f"{path}: this DICOM file of the series folder cannot be read (corrupt or truncated header); "
                    "remove or replace it: RegViewer does not drop slices silently"
                )
    for name in chosen:
        problem = pixel_data_problem(Path(name))
        if problem:
            raise ImageReadError(
                f"{name}: broken DICOM slice: {problem}; remove or replace it: RegViewer does not read a series with a missing slice"
            )


def check_series_memory(names: list[str]) -> None:
    """Refuse a series that would not fit in the memory available now, from its first slice's header only.

    Raises:
        ImageReadError: "not enough memory: ..." with the size needed and the size available.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(names[0])
    with quiet_itk():
        reader.ReadImageInformation()
    size = reader.GetSize()
    item_bytes = sitk.GetArrayViewFromImage(sitk.Image([1] * len(size), reader.GetPixelID())).itemsize
    components = max(1, reader.GetNumberOfComponents())
    check_memory((len(names), size[1], size[0]), item_bytes * components)


def read_dicom_series(folder: Path) -> sitk.Image:
    """Read the largest DICOM series found in ``folder`` (recursively).

    Raises:
        ImageReadError: no DICOM series in the folder, or a file of it is broken (named).
    """
    series = find_series(folder)
    if not series:
        raise ImageReadError("no DICOM series found in this folder or its subfolders")
    uid, names = series[0]
    check_series_files(folder, series, names)
    check_series_memory(names)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    reader.MetaDataDictionaryArrayUpdateOn()
    with quiet_itk():
        image = reader.Execute()
    if len(series) > 1:
        description = (
            reader.GetMetaData(0, _DESCRIPTION_TAG).strip() if reader.HasMetaDataKey(0, _DESCRIPTION_TAG) else ""
        )
        others = "; ".join(f"{other} ({len(files)} files)" for other, files in series[1:6])
        more = f" and {len(series) - 6} more" if len(series) > 6 else ""
        logger.warning(
            "%s: %d DICOM series found; reading the largest, %s%s (%d files); others: %s%s",
            folder,
            len(series),
            uid,
            f" '{description}'" if description else "",
            len(names),
            others,
            more,
        )
    _warn_if_uneven(reader, image, str(folder))
    return image
