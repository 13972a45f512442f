"""Helpers shared by the image readers and writers: messages, logging, pixel conversions.

Readers raise ``ImageReadError`` / ``InvalidImageError`` with a bare reason; ``read_image`` prefixes
the file name, so every message reads ``"<path>: <reason>"`` on one line.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from regviewer.core.errors import ImageWriteError, InvalidImageError  # noqa: F401 (ImageWriteError re-exported)
from regviewer.core.itk_warnings import quiet_itk  # noqa: F401 (used by the readers)

logger = logging.getLogger("regviewer.io")

#: ITK-style luminance weights (ITU-R BT.601), the same as Pillow's "L" conversion.
LUMINANCE_WEIGHTS = np.array([0.299, 0.587, 0.114])


def short_reason(error: BaseException) -> str:
    """One line describing ``error``, without SimpleITK's source-file preamble.

    Args:
        error: any exception raised by nibabel, SimpleITK, numpy or the OS.

    Returns:
        A single line such as ``"Unable to determine ImageIO reader"``.
    """
    text = str(error).strip() or type(error).__name__
    # SimpleITK: "Exception thrown in ...: file.cxx:97:\nsitk::ERROR: reason" or "ITK ERROR: Object(0x..): reason"
    for marker in ("sitk::ERROR:", "itk::ERROR:", "ITK ERROR:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    text = re.sub(r"^\s*\w+\s*\(0x[0-9a-fA-F]+\):\s*", "", text)
    if "[nrrd]" in text:  # teem's nested trace: the innermost message is the useful one
        text = re.sub(r"^\s*\w+:\s*", "", text.rsplit("[nrrd]", 1)[1])
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def one_line(text: str) -> str:
    """Collapse whitespace so a message stays on one line."""
    return " ".join(str(text).split())


def is_rgb_like(n_components: int, dtype: np.dtype, allow_grey_alpha: bool = False) -> bool:
    """True for colour pictures: 3 (RGB) or 4 (RGBA) integer components; optionally 2 (grey + alpha)."""
    counts = (2, 3, 4) if allow_grey_alpha else (3, 4)
    return n_components in counts and np.issubdtype(dtype, np.integer)


def colour_to_grey(array: np.ndarray, source: str, is_label: bool, shown_in_colour: bool = False) -> np.ndarray:
    """Convert a colour array (..., components) to one channel and log a notice naming ``source``.

    Identical channels (a grey picture saved as RGB) are kept exactly, in their own dtype. Otherwise
    the luminance 0.299 R + 0.587 G + 0.114 B is returned as float32; alpha is ignored.

    Args:
        array: pixel data with the colour components on the last axis (2: grey+alpha, 3: RGB, 4: RGBA).
        source: the file name, for the notice.
        is_label: a label map must not be blended: differing channels raise.
        shown_in_colour: the reader keeps the colour pixels for display (2D pictures): the notice says
            the image is shown in colour and registered on the luminance; otherwise that it is read
            as its luminance.

    Raises:
        InvalidImageError: ``is_label`` with channels that differ.
    """
    n_components = array.shape[-1]
    colour = array[..., :1] if n_components == 2 else array[..., :3]
    first = colour[..., 0]
    if all(np.array_equal(first, colour[..., c]) for c in range(1, colour.shape[-1])):
        logger.warning("%s: colour image with identical channels: kept one channel as grey", source)
        return np.ascontiguousarray(first)
    if is_label:
        raise InvalidImageError(
            "a colour image cannot be read as a label map; pass channel=k to use one colour channel"
        )
    kind = {3: "RGB", 4: "RGBA"}[n_components]
    alpha = "; alpha ignored" if n_components == 4 else ""
    if shown_in_colour:
        logger.warning(
            "%s: colour (%s) image: shown in colour, registered on the luminance (0.299 R + 0.587 G + 0.114 B) "
            "unless another channel is chosen (--channel, or Register on in the window)%s",
            source,
            kind,
            alpha,
        )
    else:
        logger.warning(
            "%s: colour (%s) image read as its luminance (0.299 R + 0.587 G + 0.114 B)%s; only 2D pictures "
            "are shown in colour",
            source,
            kind,
            alpha,
        )
    return (colour.astype(np.float64) @ LUMINANCE_WEIGHTS).astype(np.float32)


def select_channel(array: np.ndarray, channel: int, count: int, what: str) -> np.ndarray:
    """``array[..., channel]`` after checking that ``channel`` is in range.

    Args:
        array: data whose last axis holds ``count`` channels (volumes or components).
        channel: the index asked for.
        count: number of channels.
        what: "volume" or "component", for the message.
    """
    if not 0 <= channel < count:
        raise InvalidImageError(f"channel={channel} is out of range: the file has {count} {what}s (0..{count - 1})")
    return np.ascontiguousarray(array[..., channel])


def check_channel_unused(channel: int | None) -> None:
    """A single-channel image accepts ``channel=None`` or ``channel=0`` only."""
    if channel not in (None, 0):
        raise InvalidImageError(f"channel={channel} asked for, but the image has a single channel")


def to_label_array(array: np.ndarray) -> np.ndarray:
    """Integer label values: integer dtypes are kept, floats holding integers are rounded.

    Floats are converted to the smallest unsigned (or signed) integer type holding their range.

    Raises:
        InvalidImageError: non-integer values (probably an intensity image chosen as labels).
    """
    if array.dtype == bool:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        return array
    if array.size == 0:
        return array.astype(np.uint8)
    rounded = np.rint(array)
    worst = float(np.max(np.abs(array - rounded)))
    if worst > 1e-3:
        example = array.flat[int(np.argmax(np.abs(array - rounded)))]
        raise InvalidImageError(f"not a label map: it holds non-integer values (e.g. {example:.6g})")
    low, high = float(rounded.min()), float(rounded.max())
    for dtype in (np.uint8, np.uint16, np.uint32, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return rounded.astype(dtype)
    raise InvalidImageError(f"label values {low:g}..{high:g} do not fit a 64-bit integer")


def check_finite(array: np.ndarray) -> None:
    """Raise when a floating-point array holds NaN or Inf, saying how many voxels."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    n_bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if n_bad:
        n_nan = int(np.count_nonzero(np.isnan(array)))
        raise InvalidImageError(
            f"{n_bad} of {array.size} voxels are not finite ({n_nan} NaN, {n_bad - n_nan} Inf); "
            "replace them before registration"
        )


def portable_array(array: np.ndarray) -> np.ndarray:
    """Dtypes every writer understands: bool -> uint8, float16 -> float32, lossless int64 -> int32."""
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if np.iscomplexobj(array):
        raise ImageWriteError("complex-valued images cannot be written")
    for wide, narrow in ((np.int64, np.int32), (np.uint64, np.uint32)):
        if array.dtype == wide and array.size:
            info = np.iinfo(narrow)
            if info.min <= array.min() and array.max() <= info.max:
                return array.astype(narrow)
    return array
