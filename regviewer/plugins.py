"""What is installed: every method, reader, writer and trainer, the package providing it, and the
plugins that failed to load with the reason (Help > Plugins shows this; Qt-free so scripts can too).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from regviewer.core.io import plugins as io_plugins
from regviewer.registration import trainers
from regviewer.registration.registry import _SOURCE_TREE_BUILTINS as SOURCE_TREE_BUILTINS
from regviewer.registration.registry import GROUP as METHOD_GROUP
from regviewer.registration.registry import default_registry

KINDS = {
    METHOD_GROUP: "method",
    io_plugins.READER_GROUP: "reader",
    io_plugins.WRITER_GROUP: "writer",
    trainers.GROUP: "trainer",
}


@dataclass(frozen=True)
class PluginEntry:
    """One thing a package adds to RegViewer.

    Attributes:
        kind: "method", "reader", "writer" or "trainer".
        name: the name it is registered under (a method name, a reader name ...).
        package: the distribution providing it ("regviewer" for built-ins; "" when unknown).
        version: that distribution's version ("" when unknown).
        error: why it failed to load; "" when it loaded.
    """

    kind: str
    name: str
    package: str
    version: str
    error: str = ""

    @property
    def built_in(self) -> bool:
        return self.package == "regviewer"

    @property
    def loaded(self) -> bool:
        return not self.error


def _origin(entry: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(entry, "dist", None)
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or "", dist.version or ""


def _trainer_error(entry: metadata.EntryPoint) -> str:
    try:
        loaded = entry.load()
    except Exception as error:  # a plugin may fail in any way: report it
        return f"{entry.value}: {type(error).__name__}: {error}"
    return "" if callable(loaded) else f"{entry.value}: not callable"


def installed_plugins() -> list[PluginEntry]:
    """Every registered method, reader, writer and trainer: failures first, then plugins, then built-ins."""
    registry = default_registry()
    found: list[PluginEntry] = []
    method_entries = {entry.name: entry for entry in metadata.entry_points(group=METHOD_GROUP)}
    for name in list(registry.methods) + [name for name in registry.errors if name not in registry.methods]:
        entry = method_entries.get(name)
        package, version = (
            _origin(entry) if entry is not None else ("regviewer" if name in SOURCE_TREE_BUILTINS else "", "")
        )
        if not package and entry is not None and entry.value.startswith("regviewer."):
            package = "regviewer"
        found.append(PluginEntry("method", name, package, version, registry.errors.get(name, "")))
    io_errors = io_plugins.plugin_errors()
    for group, loaded in (
        (io_plugins.READER_GROUP, io_plugins.readers()),
        (io_plugins.WRITER_GROUP, io_plugins.writers()),
    ):
        entries = {entry.name: entry for entry in metadata.entry_points(group=group)}
        for plugin in loaded:
            package, version = _origin(entries[plugin.name]) if plugin.name in entries else ("", "")
            found.append(PluginEntry(KINDS[group], plugin.name, package, version))
        for key, reason in io_errors.items():
            if key.startswith(group + ":"):
                name = key.split(":", 1)[1]
                package, version = _origin(entries[name]) if name in entries else ("", "")
                found.append(PluginEntry(KINDS[group], name, package, version, reason))
    for entry in metadata.entry_points(group=trainers.GROUP):
        found.append(PluginEntry("trainer", entry.name, *_origin(entry), _trainer_error(entry)))
    return sorted(found, key=lambda item: (item.loaded, item.built_in, item.kind, item.name))


def format_plugins(entries: list[PluginEntry]) -> str:
    """A plain-text table (for bug reports and the CLI)."""
    lines = []
    for entry in entries:
        origin = f"{entry.package} {entry.version}".strip() or "(unknown package)"
        state = f"FAILED: {entry.error}" if entry.error else ("built-in" if entry.built_in else "loaded")
        lines.append(f"{entry.kind:8} {entry.name:24} {origin:36} {state}")
    return "\n".join(lines)
