"""Run transforms in a session bundle: ITK files under ``transforms/``, named once and never rewritten.

A transform file is named ``run-<id>-<token>.tfm|.h5`` (``current-<token>`` for a current transform
that is no run's). A finished run's transform never changes, so saving a folder bundle again writes
only the transforms it does not hold yet: a quick save of a session with large dense fields
rewrites only ``session.json``. The token keeps a new run #3 from ever being confused with an
earlier session's run #3 in the same bundle.
"""

from __future__ import annotations

import secrets
import tempfile
import zipfile
from pathlib import Path

from regviewer.app.session_document import SessionError, StoredTransform
from regviewer.core.errors import RegViewerError
from regviewer.core.io.atomic import atomic_path
from regviewer.core.io.transforms_io import read_transform, write_transform
from regviewer.core.transforms import Transform

TRANSFORM_FOLDER = "transforms"


def file_name(prefix: str, transform: Transform) -> str:
    """A fresh name for a transform file (``.tfm`` when linear, ``.h5`` otherwise, as the CLI chooses)."""
    return f"{prefix}-{secrets.token_hex(4)}{'.tfm' if transform.is_linear else '.h5'}"


def write_file(transform: Transform, path: Path) -> None:
    """Write ``transform`` atomically to ``path`` (ITK format from the extension)."""
    with atomic_path(path) as temporary:
        write_transform(transform, temporary)


def read_stored(stored: StoredTransform) -> Transform:
    """Read a stored transform (a zip member is extracted to a temporary file first: ITK reads files)."""
    try:
        if stored.member is None:
            if not stored.file.exists():
                raise SessionError(f"{stored.file}: the run's transform file is missing from the session")
            return read_transform(stored.file)
        suffix = "".join(Path(stored.member).suffixes[-1:])
        with tempfile.TemporaryDirectory(prefix="regviewer-session-") as folder:
            target = Path(folder) / f"transform{suffix}"
            target.write_bytes(stored.read_bytes())
            return read_transform(target)
    except SessionError:
        raise
    except (RegViewerError, OSError, zipfile.BadZipFile) as error:
        raise SessionError(f"{stored.file}: the transform {stored.name} cannot be read ({error})") from None
