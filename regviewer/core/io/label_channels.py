"""Label maps stored as several channels (4D one-hot / multi-label files): pick one, or make an integer map.

Some cohorts store labels as a 4D file, one binary (or probability) volume per structure: the
prostate cohort's are (x, y, z, 3): channel 0 the gland, channels 1 and 2 small landmark blobs.
RegViewer's label maps are integer volumes, so such a file is read either as

- one channel (``channel=k``): that volume as a label map (its own values, e.g. 0 / 1), or
- ``"onehot"``: one integer map where a voxel takes ``k + 1`` for the channel ``k`` at its maximum
  and 0 (background) where every channel is 0. Channels may overlap (the cohort's landmark blobs lie
  inside the gland): ties go to the LAST channel, so small structures drawn over large ones stay
  visible and scored. A file whose channel 0 is itself a background channel gives that background
  the value 1.

``LabelFile(path, channel)`` carries the choice with the path (the window and the command line pass
it where a label path goes); ``read_label_map`` reads either; ``parse_label_channel`` reads the
command-line spelling ("2", "onehot"); ``channel_count`` looks at the header only (cheap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regviewer.core.errors import InvalidImageError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io.formats import image_format_family
from regviewer.core.io.images import read_image

ONEHOT = "onehot"
LabelChannel = int | str | None  # a channel index, "onehot", or None (a plain 2D / 3D label map)


@dataclass(frozen=True)
class LabelFile:
    """A label map file and how to read its channels (see the module docstring)."""

    path: str
    channel: LabelChannel = None

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def describe(self) -> str:
        """ "case.nii.gz (integer map from one-hot)" / "case.nii.gz (channel 1)" / "case.nii.gz"."""
        name = Path(self.path).name
        if self.channel == ONEHOT:
            return f"{name} (integer map from one-hot)"
        return name if self.channel is None else f"{name} (channel {self.channel})"


def parse_label_channel(text: str | int | None) -> LabelChannel:
    """The command-line value of ``--fixed-labels-channel``: a channel index (0, 1 ...) or "onehot"."""
    if text is None or isinstance(text, int):
        if isinstance(text, int) and text < 0:
            raise RegViewerError(f"label channel {text}: expected 0 or more, or 'onehot'")
        return text
    value = str(text).strip().lower()
    if value in (ONEHOT, "one-hot", "argmax"):
        return ONEHOT
    try:
        index = int(value)
    except ValueError:
        raise RegViewerError(f"label channel {text!r}: expected a channel index (0, 1, ...) or 'onehot'") from None
    return parse_label_channel(index)


def channel_count(path: str | os.PathLike[str]) -> int:
    """How many volumes (or vector components) a file holds, from its header; 1 for a plain image or when unsure."""
    path = Path(path)
    try:
        family = image_format_family(path)
        if family == "nifti":
            import nibabel as nib

            shape = list(nib.load(str(path)).shape)
            while len(shape) > 3 and shape[-1] == 1:
                shape.pop()
            if len(shape) == 5 and shape[3] == 1:
                return int(shape[4])
            return int(shape[3]) if len(shape) == 4 else 1
        if family == "npz":
            with np.load(str(path), allow_pickle=False) as archive:
                shape = list(archive["seg"].shape) if "seg" in archive.files else []
            while len(shape) > 3 and shape[-1] == 1:
                shape.pop()
            return int(shape[3]) if len(shape) == 4 else 1
        if family == "dicom" or path.is_dir():
            return 1
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        size = [s for s in reader.GetSize()]
        while len(size) > 3 and size[-1] == 1:
            size.pop()
        if len(size) == 4:
            return int(size[3])
        components = int(reader.GetNumberOfComponents())
        return components if components > 1 and family not in ("png", "jpeg", "tiff") else 1
    except Exception:  # noqa: BLE001 - unsure: reading the file later gives the exact error
        return 1


def onehot_to_labels(channels: np.ndarray) -> np.ndarray:
    """(C, ...) channel volumes -> integer map: k + 1 for the last channel at the voxel's maximum, 0 where all are 0."""
    channels = np.asarray(channels)
    count = channels.shape[0]
    last_max = count - 1 - np.argmax(channels[::-1], axis=0)  # ties: the last channel
    labels = (last_max + 1).astype(np.uint8 if count < 255 else np.uint16)
    labels[~np.any(channels > 0, axis=0)] = 0
    return labels


def read_label_map(source: str | os.PathLike[str] | LabelFile, channel: LabelChannel = None) -> Image:
    """Read a label map; ``channel`` (or the LabelFile's) picks a channel of a 4D file or makes the one-hot map.

    Raises:
        ImageReadError / InvalidImageError: as ``read_image``, with a message that names the choices
        for a 4D file read without one.
    """
    if isinstance(source, LabelFile):
        path, channel = Path(source.path), source.channel if channel is None else channel
    else:
        path = Path(source)
    channel = parse_label_channel(channel)
    if channel is None:
        try:
            return read_image(path, is_label=True)
        except InvalidImageError as error:
            count = channel_count(path)
            if count > 1:
                raise InvalidImageError(
                    f"{path}: a label map with {count} channels: choose one channel (0..{count - 1}) or the integer "
                    "map from one-hot (in the window: File > Open ... Labels asks; on the command line: "
                    "--fixed-labels-channel / --moving-labels-channel N or onehot)"
                ) from error
            raise
    if channel != ONEHOT:
        image = read_image(path, is_label=True, channel=channel)
        return image.with_array(image.array, name=f"{path.name}[{channel}]")
    count = channel_count(path)
    if count <= 1:
        return read_image(path, is_label=True)  # a plain label map is its own integer map
    # one read per channel (each through read_image's checks); label files are small next to images
    volumes = [read_image(path, channel=k) for k in range(count)]
    labels = onehot_to_labels(np.stack([volume.array for volume in volumes]))
    return Image(labels, volumes[0].geometry, name=f"{path.name}[onehot]", is_label=True)
