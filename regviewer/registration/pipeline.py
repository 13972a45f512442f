"""Run a chain of methods (``rigid,affine,bspline``), each stage starting from the previous result."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regviewer.core.errors import RegViewerError
from regviewer.core.progress import CancelToken, ProgressCallback, ignore_progress
from regviewer.core.transforms import AffineTransform
from regviewer.registration.base import Request, Result, resolve_parameters
from regviewer.registration.registry import Registry, default_registry


@dataclass(frozen=True)
class Stage:
    """One method of a chain with its parameter overrides (defaults fill the rest)."""

    method: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


def parse_methods(spec: str) -> list[Stage]:
    """``"rigid,affine,bspline"`` -> stages with default parameters."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise RegViewerError("no method given")
    return [Stage(name) for name in names]


def override_stages(
    stages: Sequence[Stage], overrides: Mapping[str, Any], registry: Registry | None = None
) -> list[Stage]:
    """Apply ``overrides`` to every stage whose method has a parameter of that name.

    A name that no stage knows is an error (a typo must not be silently ignored).
    """
    registry = registry or default_registry()
    used: set[str] = set()
    result = []
    for stage in stages:
        known = {parameter.name for parameter in registry.get(stage.method).parameters}
        applied = {name: value for name, value in overrides.items() if name in known}
        used.update(applied)
        result.append(Stage(stage.method, {**stage.parameters, **applied}))
    unknown = sorted(set(overrides) - used)
    if unknown:
        raise RegViewerError(f"parameter(s) {', '.join(unknown)} are not used by {', '.join(s.method for s in stages)}")
    return result


def validate_stages(stages: Sequence[Stage], registry: Registry | None = None) -> None:
    """Check method names and parameter values before anything runs."""
    registry = registry or default_registry()
    for stage in stages:
        resolve_parameters(registry.get(stage.method), stage.parameters)


def run_chain(
    stages: Sequence[Stage],
    request: Request,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    registry: Registry | None = None,
) -> Result:
    """Run the stages in order; stop at the first cancelled stage and keep its transform."""
    registry = registry or default_registry()
    cancel = cancel or CancelToken()
    validate_stages(stages, registry)
    started = time.perf_counter()
    current = request.initial_transform
    history: list = []
    log: list[str] = []
    used: list[dict] = []
    status, message = "completed", ""
    for stage in stages:
        method = registry.get(stage.method)
        result = method.run(request.replace(parameters=stage.parameters, initial_transform=current), progress, cancel)
        current = result.transform
        history.extend(result.metric_history)
        log.extend(result.log)
        used.append(
            {"method": stage.method, "parameters": dict(result.parameters), "runtime_s": round(result.runtime_s, 3)}
        )
        status, message = result.status, result.message
        if result.status != "completed":
            break
    return Result(
        method=",".join(stage.method for stage in stages),
        transform=current if current is not None else AffineTransform.identity(request.fixed.ndim),
        status=status,
        parameters={"stages": used},
        runtime_s=time.perf_counter() - started,
        metric_history=history,
        message=message,
        log=log,
    )
