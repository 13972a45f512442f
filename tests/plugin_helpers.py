"""Find the example plugin distributions under plugins/ and load them as RegViewer would once installed.

Tests read each plugin's declared entry points from its pyproject.toml and load them with the plugin
folder on sys.path, so they check the very declarations pip installs, with or without an install.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def plugin_folders() -> list[Path]:
    return sorted(path.parent for path in PLUGINS.glob("*/pyproject.toml"))


def declared_entry_points(folder: Path, group: str) -> list[metadata.EntryPoint]:
    """The entry points ``folder``'s pyproject.toml declares in ``group``."""
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project.get("entry-points", {}).get(group, {})
    return [metadata.EntryPoint(name, value, group) for name, value in declared.items()]


@contextmanager
def plugin_on_path(folder: Path) -> Iterator[None]:
    """``folder`` importable for the duration (its modules are forgotten afterwards)."""
    sys.path.insert(0, str(folder))
    before = set(sys.modules)
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:
            if name.split(".")[0].startswith("regviewer_"):
                sys.modules.pop(name, None)


@contextmanager
def registry_with_plugin(folder_name: str, builtins: list[str]):
    """A method registry holding the plugin's declared methods plus the named built-ins."""
    from regviewer.registration.registry import _SOURCE_TREE_BUILTINS, GROUP, build_registry

    folder = PLUGINS / folder_name
    entries = declared_entry_points(folder, GROUP)
    entries += [metadata.EntryPoint(name, _SOURCE_TREE_BUILTINS[name], GROUP) for name in builtins]
    with plugin_on_path(folder):
        registry = build_registry(entries)
        assert registry.errors == {}, registry.errors
        yield registry
