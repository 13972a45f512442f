"""Exceptions with messages meant for users.

Every error a user can cause (a bad file, mismatched inputs) is raised as a ``RegViewerError``
subclass whose message names the file and the reason in one line. The CLI prints that line and
exits with status 2; the GUI shows it in a dialog. Anything else is a bug.
"""


class RegViewerError(Exception):
    """Base class of all errors caused by user input; ``str(err)`` is the one-line message."""


class ImageReadError(RegViewerError):
    """A file could not be read as an image, transform or landmark set."""


class ImageWriteError(RegViewerError):
    """An image could not be written (unsupported format, values the format cannot hold, disk error)."""


class InvalidImageError(RegViewerError):
    """An image was read but cannot be used (4D, NaN/Inf, zero or negative spacing ...)."""


class InputMismatchError(RegViewerError):
    """Inputs that do not fit together (2D fixed with 3D moving, masks that do not overlap ...)."""


class CancelledError(RegViewerError):
    """Raised inside an engine to unwind after the user cancelled; engines turn it into a result."""
