"""Image readers and writers added by plugins (entry-point groups ``regviewer.readers`` / ``regviewer.writers``).

A plugin declares, in its pyproject.toml::

    [project.entry-points."regviewer.readers"]
    npy = "regviewer_npy:READER"        # an ImageReader (or a no-argument callable returning one)

    [project.entry-points."regviewer.writers"]
    npy = "regviewer_npy:WRITER"        # an ImageWriter

or registers one at run time with ``register_reader`` / ``register_writer`` (scripts, tests).

Plugins extend RegViewer; they never replace it: a plugin reader or writer is used only for
extensions RegViewer does not handle itself, so a broken plugin can never break reading NIfTI.
A plugin that fails to load is recorded in ``plugin_errors()`` (shown in Help > Plugins) and skipped.
Whatever a plugin's ``read`` raises reaches the user as one line, "<path>: <reason>"; its result is
checked (an :class:`Image`, finite values, integer labels). Writers get the final path and write
every file through ``atomic_path`` / ``write_text_atomic`` (exported by ``regviewer.api``), so that
their output appears complete under its final name, or not at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from regviewer.core.errors import ImageReadError, ImageWriteError, RegViewerError
from regviewer.core.image import Image
from regviewer.core.io._common import check_finite, one_line, short_reason, to_label_array
from regviewer.core.io.formats import FAMILY_BY_EXTENSION, extension_of

READER_GROUP = "regviewer.readers"
WRITER_GROUP = "regviewer.writers"


@dataclass(frozen=True)
class ImageReader:
    """A reader for files with the given extensions.

    Attributes:
        name: short identifier (the entry-point name).
        extensions: lower-case extensions with their dot, e.g. (".npy",); compound ones allowed (".foo.gz").
        read: ``read(path, is_label=False, channel=None) -> Image`` giving an LPS image, array in (z, y, x).
        label: what the format is, for Help > Plugins and file dialogs.
    """

    name: str
    extensions: tuple[str, ...]
    read: Callable[..., Image]
    label: str = ""


@dataclass(frozen=True)
class ImageWriter:
    """A writer for files with the given extensions.

    ``write(image, path)`` writes ``path`` (and any sidecar beside it), each file through
    ``atomic_path`` / ``write_text_atomic`` so that nothing half-written ever carries a final name.
    """

    name: str
    extensions: tuple[str, ...]
    write: Callable[[Image, Path], None]
    label: str = ""


_lock = threading.Lock()
_registered: dict[str, dict[str, object]] = {READER_GROUP: {}, WRITER_GROUP: {}}
_errors: dict[str, str] = {}
_loaded_groups: set[str] = set()


def _check(plugin: object, kind: type, name: str) -> object:
    plugin = plugin() if callable(plugin) and not isinstance(plugin, kind) else plugin
    if not isinstance(plugin, kind):
        raise TypeError(f"is not a regviewer.api.{kind.__name__}")
    extensions = tuple(extension.lower() for extension in plugin.extensions)
    if not extensions or not all(extension.startswith(".") for extension in extensions):
        raise TypeError("extensions must be a non-empty list like ('.npy',)")
    taken = sorted(set(extensions) & set(FAMILY_BY_EXTENSION))
    if taken:
        raise TypeError(f"extensions {', '.join(taken)} are read by RegViewer itself")
    return plugin


def _load_group(group: str) -> None:
    """Load the entry points of ``group`` once (errors collected under "group:name")."""
    with _lock:
        if group in _loaded_groups:
            return
        _loaded_groups.add(group)
        kind = ImageReader if group == READER_GROUP else ImageWriter
        for entry in metadata.entry_points(group=group):
            try:
                _registered[group].setdefault(entry.name, _check(entry.load(), kind, entry.name))
            except Exception as error:  # a plugin may fail in any way: report it, never crash
                _errors[f"{group}:{entry.name}"] = f"{entry.value}: {type(error).__name__}: {error}"


def register_reader(reader: ImageReader) -> None:
    """Register ``reader`` for its extensions (replaces a reader of the same name)."""
    _load_group(READER_GROUP)
    _registered[READER_GROUP][reader.name] = _check(reader, ImageReader, reader.name)


def register_writer(writer: ImageWriter) -> None:
    """Register ``writer`` for its extensions (replaces a writer of the same name)."""
    _load_group(WRITER_GROUP)
    _registered[WRITER_GROUP][writer.name] = _check(writer, ImageWriter, writer.name)


def unregister(name: str) -> None:
    """Forget the reader and writer called ``name`` (tests, plugin reloads)."""
    for plugins in _registered.values():
        plugins.pop(name, None)


def readers() -> list[ImageReader]:
    _load_group(READER_GROUP)
    return list(_registered[READER_GROUP].values())  # type: ignore[arg-type]


def writers() -> list[ImageWriter]:
    _load_group(WRITER_GROUP)
    return list(_registered[WRITER_GROUP].values())  # type: ignore[arg-type]


def plugin_errors() -> dict[str, str]:
    """Readers / writers that failed to load: "regviewer.readers:name" -> reason."""
    _load_group(READER_GROUP)
    _load_group(WRITER_GROUP)
    return dict(_errors)


def _matching(plugins: list, path: Path):
    name = path.name.lower()
    if extension_of(path) in FAMILY_BY_EXTENSION:
        return None
    for plugin in plugins:
        if any(name.endswith(extension) for extension in plugin.extensions):
            return plugin
    return None


def reader_for(path: str | os.PathLike[str]) -> ImageReader | None:
    """The plugin reader for ``path``, or None when RegViewer reads it itself or no plugin does."""
    return _matching(readers(), Path(path))


def writer_for(path: str | os.PathLike[str]) -> ImageWriter | None:
    """The plugin writer for ``path``, or None when RegViewer writes it itself or no plugin does."""
    return _matching(writers(), Path(path))


def read_with_plugin(reader: ImageReader, path: Path, is_label: bool = False, channel: int | None = None) -> Image:
    """``reader.read`` with its result checked and every failure as a one-line ``ImageReadError``."""
    try:
        image = reader.read(path, is_label=is_label, channel=channel)
        if not isinstance(image, Image):
            raise ImageReadError(f"the {reader.name} reader returned {type(image).__name__}, not an Image")
        check_finite(image.array)
        return image.with_array(to_label_array(image.array), is_label=True) if is_label else image
    except RegViewerError as error:
        raise type(error)(one_line(f"{path}: {error}")) from error
    except Exception as error:
        raise ImageReadError(f"{path}: cannot read with the {reader.name} plugin ({short_reason(error)})") from error


def write_with_plugin(writer: ImageWriter, image: Image, path: Path) -> Path:
    """``writer.write`` (missing folders created); every failure as a one-line ``ImageWriteError``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer.write(image, path)
    except RegViewerError as error:
        raise ImageWriteError(one_line(f"{path}: {error}")) from error
    except Exception as error:
        raise ImageWriteError(f"{path}: cannot write with the {writer.name} plugin ({short_reason(error)})") from error
    return path
