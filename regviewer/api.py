"""RegViewer's public plugin API: the only module a plugin needs to import (see docs/plugins.md).

Everything listed in ``__all__`` is stable within a major ``API_VERSION``: a name is never removed or
changed incompatibly without a new major version; new names may appear in a minor version. Plugins
should import from here, not from ``regviewer.core`` / ``regviewer.registration`` directly, whose
layout may change between releases.

Entry-point groups (declare them in the plugin's pyproject.toml):

- ``regviewer.methods``: a class (or instance) following :class:`Method`.
- ``regviewer.readers`` / ``regviewer.writers``: an :class:`ImageReader` / :class:`ImageWriter`.
- ``regviewer.trainers``: a callable ``train(options: TrainOptions, report) -> int`` for
  ``regviewer train --config FILE`` when the configuration says ``trainer = "<name>"``.

Conventions (the same as RegViewer's): arrays in (z, y, x) order, geometry vectors in (x, y, z),
physical points in LPS millimetres, and every transform maps FIXED points to MOVING points.
"""

from __future__ import annotations

from regviewer.core.errors import (
    ImageReadError,
    ImageWriteError,
    InputMismatchError,
    InvalidImageError,
    RegViewerError,
)
from regviewer.core.image import Geometry, Image
from regviewer.core.io import read_image, write_image
from regviewer.core.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from regviewer.core.io.plugins import (
    READER_GROUP,
    WRITER_GROUP,
    ImageReader,
    ImageWriter,
    register_reader,
    register_writer,
)
from regviewer.core.io.transforms_io import read_displacement_field, read_transform, write_transform
from regviewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from regviewer.core.resample import resample_image
from regviewer.core.transforms import (
    AffineTransform,
    BSplineTransform,
    CompositeTransform,
    DisplacementFieldTransform,
    Transform,
    identity,
)
from regviewer.registration.base import (
    Method,
    Parameter,
    ParameterError,
    Request,
    Result,
    resolve_parameters,
)
from regviewer.registration.registry import GROUP as METHOD_GROUP
from regviewer.registration.trainers import GROUP as TRAINER_GROUP
from regviewer.registration.trainers import TrainOptions

#: "major.minor": plugins may check ``API_VERSION.split(".")[0] == "1"``.
API_VERSION = "1.0"

__all__ = [
    "API_VERSION",
    "METHOD_GROUP",
    "READER_GROUP",
    "WRITER_GROUP",
    "TRAINER_GROUP",
    # images and geometry
    "Image",
    "Geometry",
    "read_image",
    "write_image",
    "resample_image",
    # transforms (fixed -> moving)
    "Transform",
    "AffineTransform",
    "BSplineTransform",
    "DisplacementFieldTransform",
    "CompositeTransform",
    "identity",
    "read_transform",
    "write_transform",
    "read_displacement_field",
    # methods
    "Method",
    "Parameter",
    "ParameterError",
    "Request",
    "Result",
    "resolve_parameters",
    "ProgressEvent",
    "ProgressCallback",
    "ignore_progress",
    "CancelToken",
    # readers, writers, trainers
    "ImageReader",
    "ImageWriter",
    "register_reader",
    "register_writer",
    "atomic_path",
    "write_text_atomic",
    "write_bytes_atomic",
    "TrainOptions",
    # errors
    "RegViewerError",
    "ImageReadError",
    "ImageWriteError",
    "InvalidImageError",
    "InputMismatchError",
]
