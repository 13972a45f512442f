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


def read_dicom_series(folder: Path) -> sitk.Image:
    """Read the largest DICOM series found in ``folder`` (recursively).

    Raises:
        ImageReadError: no DICOM series in the folder.
    """
    series = find_series(folder)
    if not series:
        raise ImageReadError("no DICOM series found in this folder or its subfolders")
    uid, names = series[0]
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
