"""Colour pictures (fundus photographs): RGB for display, one scalar channel for registration, and a
field-of-view mask from the dark border around the retina.

An :class:`Image` read from a colour picture keeps its RGB pixels in ``image.colour`` (uint8,
``shape + (3,)``) for the views, while ``image.array`` is the scalar image every engine registers:
the luminance by default, or one channel (green is the usual choice for fundus photographs: the
vessels have the most contrast there). ``registration_channel`` switches between them; the CLI's
``--channel`` and the window's "Register on" box use it.

``automatic_mask(image, "fov")`` is the mask a preset can ask for (``"mask": "fov"`` in its file):
the field of view of a fundus photograph, used when the user gives no mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from regviewer.core.errors import InvalidImageError
from regviewer.core.image import Image

LUMINANCE = np.array([0.299, 0.587, 0.114])
CHANNELS = {"red": 0, "green": 1, "blue": 2}
CHOICES = ("luminance", "red", "green", "blue")
#: automatic masks a preset can ask for ("mask": KIND in the preset file)
MASK_KINDS = ("fov",)


def picture_colour(pixels: np.ndarray) -> np.ndarray | None:
    """The RGB uint8 pixels of a picture array (..., 3 or 4 components), None when it is not in colour
    (one component, grey + alpha, or identical channels)."""
    if pixels.ndim < 3 or pixels.shape[-1] not in (3, 4) or not np.issubdtype(pixels.dtype, np.integer):
        return None
    rgb = pixels[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return None
    if rgb.dtype != np.uint8:
        top = max(int(rgb.max()), 1)
        rgb = np.round(rgb.astype(np.float64) * (255.0 / (65535 if top > 255 else 255))).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def registration_channel(image: Image, channel: str) -> Image:
    """``image`` whose scalar array is the chosen channel of its colour pixels ("luminance", "red",
    "green" or "blue"); the colour stays for display. Grey images are returned unchanged."""
    check_channel(channel)
    if image.colour is None:
        return image
    if channel == "luminance":  # the same numbers as reading the picture (float64 weights, then float32)
        array = (image.colour.astype(np.float64) @ LUMINANCE).astype(np.float32)
    else:
        array = image.colour[..., CHANNELS[channel]].astype(np.float32)
    return Image(np.ascontiguousarray(array), image.geometry, name=image.name, colour=image.colour)


def check_channel(channel: str) -> str:
    """``channel`` when it is one of CHOICES; InvalidImageError naming the choices otherwise."""
    if channel not in CHOICES:
        raise InvalidImageError(f"unknown colour channel {channel!r}; choose one of {', '.join(CHOICES)}")
    return channel


def check_mask_kind(kind: str) -> str:
    """``kind`` when it is an automatic mask a preset can ask for; InvalidImageError otherwise."""
    if kind not in MASK_KINDS:
        raise InvalidImageError(f"unknown automatic mask {kind!r}; choose one of {', '.join(MASK_KINDS)}")
    return kind


def automatic_mask(image: Image, kind: str) -> Image:
    """The mask a preset asks for: ``"fov"`` is the field of view (see ``field_of_view_mask``)."""
    check_mask_kind(kind)
    return field_of_view_mask(image)


def field_of_view_mask(image: Image, threshold: float = 0.08, erode_px: int = 4) -> Image:
    """The bright disc of a fundus photograph as a 0/1 label image (the dark border excluded).

    Pixels above ``threshold`` x (99th percentile) of the smoothed luminance (of the colour pixels, or
    of the grey array), holes filled, the largest region kept, eroded by ``erode_px`` so that the
    border's edge does not drive the registration.
    """
    grey = image.colour.astype(np.float32) @ LUMINANCE.astype(np.float32) if image.colour is not None else image.array
    smooth = ndimage.gaussian_filter(np.asarray(grey, np.float32), 2.0)
    inside = smooth > threshold * np.percentile(smooth, 99)
    inside = ndimage.binary_fill_holes(ndimage.binary_opening(inside, iterations=2))  # no thin bridges, no holes
    labels, count = ndimage.label(inside)
    if count == 0:
        raise InvalidImageError(f"{image.name or 'image'}: no bright field of view found (the picture is dark)")
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    if erode_px > 0:
        largest = ndimage.binary_erosion(largest, iterations=erode_px)
    return Image(largest.astype(np.uint8), image.geometry, name=f"{image.name} field of view", is_label=True)


def display_rgb(image: Image) -> np.ndarray:
    """RGB float32 in 0..1 of a colour image (for composing views)."""
    if image.colour is None:
        raise InvalidImageError(f"{image.name or 'image'} has no colour pixels")
    return image.colour.astype(np.float32) / 255.0
