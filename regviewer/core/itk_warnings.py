"""Keep ITK's own warnings off the user's terminal while RegViewer calls into SimpleITK.

ITK prints warnings to stderr (for example when a line search tries a step that maps every metric
sample outside the image, and then backtracks). RegViewer reports what matters itself. The switch
is process-wide, so it is reference-counted: readers and engines in different threads can nest it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import SimpleITK as sitk

_lock = threading.Lock()
_depth = 0
_saved = True


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """Silence ITK warnings inside the block (nested and concurrent uses are safe)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = sitk.ProcessObject.GetGlobalWarningDisplay()
            sitk.ProcessObject.SetGlobalWarningDisplay(False)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                sitk.ProcessObject.SetGlobalWarningDisplay(_saved)
