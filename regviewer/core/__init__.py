"""Qt-free, torch-free, vtk-free core: images in physical space, I/O, transforms, resampling, metrics.

Conventions (see ../shared/docs/CONVENTIONS.md): physical points are LPS millimetres in ITK order
(x, y, z); arrays are numpy (z, y, x); a transform maps FIXED points to MOVING points.
"""

from regviewer.core.errors import ImageReadError, InputMismatchError, InvalidImageError, RegViewerError
from regviewer.core.image import Geometry, Image

__all__ = ["RegViewerError", "ImageReadError", "InvalidImageError", "InputMismatchError", "Geometry", "Image"]
