"""Discovery of registration methods through the entry-point group ``regviewer.methods``.

Built-in methods are declared in RegViewer's own pyproject.toml under the same group, exactly like
a plugin's. A plugin that fails to import or does not look like a Method is reported in
``Registry.errors`` (name -> reason) and skipped: a broken plugin never stops the application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata

from regviewer.core.errors import RegViewerError
from regviewer.registration.base import Method

GROUP = "regviewer.methods"

# The same declarations as pyproject.toml, used only when RegViewer runs from a source tree that
# was never installed (no entry-point metadata). Installed copies always go through metadata.
_SOURCE_TREE_BUILTINS = {
    "rigid": "regviewer.registration.classic:RigidMethod",
    "similarity": "regviewer.registration.classic:SimilarityMethod",
    "affine": "regviewer.registration.classic:AffineMethod",
    "bspline": "regviewer.registration.classic:BSplineMethod",
    "demons": "regviewer.registration.demons:DemonsMethod",
    "torch-deformable": "regviewer.registration.torch_opt:TorchDeformableMethod",
    "network": "regviewer.registration.network:NetworkMethod",
    "landmark-rigid": "regviewer.registration.landmark:LandmarkRigidMethod",
    "landmark-similarity": "regviewer.registration.landmark:LandmarkSimilarityMethod",
    "landmark-affine": "regviewer.registration.landmark:LandmarkAffineMethod",
    "landmark-tps": "regviewer.registration.landmark:LandmarkTpsMethod",
    "elastix-rigid": "regviewer.registration.elastix:ElastixRigidMethod",
    "elastix-affine": "regviewer.registration.elastix:ElastixAffineMethod",
    "elastix-bspline": "regviewer.registration.elastix:ElastixBSplineMethod",
    "ants-rigid": "regviewer.registration.ants:AntsRigidMethod",
    "ants-affine": "regviewer.registration.ants:AntsAffineMethod",
    "ants-syn": "regviewer.registration.ants:AntsSynMethod",
    "ants-synquick": "regviewer.registration.ants:AntsSynQuickMethod",
}


class UnknownMethodError(RegViewerError):
    """No registered method has that name."""


@dataclass
class Registry:
    """Methods by name, in registration order, plus the plugins that failed to load."""

    methods: dict[str, Method] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, loaded: object) -> None:
        method = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(method, Method):
            raise TypeError("does not provide name, label, description, parameters and run()")
        if method.name != name:
            raise TypeError(f"declares the name {method.name!r}, registered as {name!r}")
        self.methods[name] = method

    def get(self, name: str) -> Method:
        try:
            return self.methods[name]
        except KeyError:
            raise UnknownMethodError(f"unknown method {name!r}; available: {', '.join(self.methods)}") from None

    def names(self) -> list[str]:
        return list(self.methods)


def build_registry(entry_points: list[metadata.EntryPoint] | None = None) -> Registry:
    """Load every method of the ``regviewer.methods`` group (errors are collected, never raised)."""
    registry = Registry()
    found = list(metadata.entry_points(group=GROUP)) if entry_points is None else entry_points
    declared = {entry.name for entry in found}
    for name, spec in _SOURCE_TREE_BUILTINS.items():
        if entry_points is None and name not in declared:
            found.append(metadata.EntryPoint(name=name, value=spec, group=GROUP))
    for entry in found:
        try:
            registry.add(entry.name, entry.load())
        except Exception as error:  # a plugin may fail in any way; report it, never crash
            registry.errors[entry.name] = f"{entry.value}: {type(error).__name__}: {error}"
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    return build_registry()


def get_method(name: str) -> Method:
    return default_registry().get(name)
