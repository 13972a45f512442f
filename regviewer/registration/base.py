"""The public contract between RegViewer and registration engines (built-in or plugins).

A method describes its parameters with a small schema (``Parameter``) from which the GUI builds its
form and the CLI validates ``--param`` values, and implements ``run(request, progress, cancel)``.
``Request`` and ``Result`` are frozen: a worker thread can hold them without copies or locks.

The transform in a ``Result`` maps FIXED points to MOVING points and already includes the request's
initial transform, so a result can be used directly to resample or as the start of the next stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from regviewer.core.errors import RegViewerError
from regviewer.core.image import Image
from regviewer.core.progress import CancelToken, ProgressCallback
from regviewer.core.transforms import Transform

PARAMETER_KINDS = ("float", "int", "bool", "choice", "int_list", "float_list")
STATUSES = ("completed", "cancelled", "failed")


class ParameterError(RegViewerError):
    """A parameter value outside its schema (wrong type, range or choice)."""


@dataclass(frozen=True)
class Parameter:
    """One entry of a method's parameter schema.

    Attributes:
        name: identifier used in presets, the CLI (``--param name=value``) and saved sessions.
        kind: one of PARAMETER_KINDS; ``*_list`` kinds hold one value per resolution level.
        default: value used when none is given.
        label: short text for the GUI form.
        help: tooltip / CLI help: what the parameter does and when to change it.
        minimum, maximum: inclusive range for numbers (each element of a list).
        choices: allowed values of a "choice".
        unit: shown beside the field ("mm", "voxels", "%").
        expert: folded away in the GUI unless the user asks for expert parameters.
        minimum_text: what the GUI shows for a number at its minimum, when that value means something
            else (e.g. "model's own" for 0 network passes).
    """

    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    expert: bool = False
    minimum_text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAMETER_KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")
        self.validate(self.default)

    def _number(self, value: Any, integer: bool) -> float | int:
        if isinstance(value, bool):
            raise ParameterError(f"{self.name}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ParameterError(f"{self.name}: expected a finite number, got {value!r}")
        if integer:
            if number != int(number):
                raise ParameterError(f"{self.name}: expected a whole number, got {value!r}")
            number = int(number)
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(f"{self.name}: {number} is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ParameterError(f"{self.name}: {number} is above the maximum {self.maximum}")
        return number

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to the parameter's type; raise ParameterError when invalid.

        Strings are accepted for every kind (CLI input): "0.5", "yes", "4,2,1".
        """
        if self.kind in ("float", "int"):
            return self._number(value, self.kind == "int")
        if self.kind == "bool":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ParameterError(f"{self.name}: expected yes/no, got {value!r}")
            if isinstance(value, (bool, np.bool_)) or value in (0, 1):
                return bool(value)
            raise ParameterError(f"{self.name}: expected yes/no, got {value!r}")
        if self.kind == "choice":
            if str(value) not in self.choices:
                raise ParameterError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
            return str(value)
        items = (
            [item for item in value.replace(";", ",").split(",") if item.strip()] if isinstance(value, str) else value
        )
        if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
            raise ParameterError(f"{self.name}: expected a list of numbers, got {value!r}")
        return tuple(self._number(item, self.kind == "int_list") for item in items)


@runtime_checkable
class Method(Protocol):
    """What the registry expects of a registration method (class attributes + ``run``)."""

    name: str
    label: str
    description: str
    parameters: tuple[Parameter, ...]

    def run(self, request: Request, progress: ProgressCallback, cancel: CancelToken) -> Result: ...


def resolve_parameters(method: Method, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of ``method`` overridden by ``values``, each validated; unknown names are errors."""
    schema = {parameter.name: parameter for parameter in method.parameters}
    unknown = sorted(set(values or {}) - set(schema))
    if unknown:
        raise ParameterError(
            f"{method.name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(schema) or 'none'}"
        )
    resolved = {name: parameter.default for name, parameter in schema.items()}
    for name, value in (values or {}).items():
        resolved[name] = schema[name].validate(value)
    return resolved


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Request:
    """Everything an engine needs for one run.

    Attributes:
        fixed, moving: the images (any geometry; engines work in physical space).
        parameters: validated values (see ``resolve_parameters``); missing names take defaults.
        fixed_mask, moving_mask: optional binary images restricting the metric.
        fixed_landmarks, moving_landmarks: optional (N, ndim) LPS mm arrays, paired by row.
        initial_transform: optional fixed -> moving start (a previous stage or ``--init``).
        fixed_labels, moving_labels: optional label maps; methods with a label term (e.g. a Dice
            loss) use them, the others ignore them.
    """

    fixed: Image
    moving: Image
    parameters: Mapping[str, Any] = field(default_factory=dict)
    fixed_mask: Image | None = None
    moving_mask: Image | None = None
    fixed_landmarks: np.ndarray | None = None
    moving_landmarks: np.ndarray | None = None
    initial_transform: Transform | None = None
    fixed_labels: Image | None = None
    moving_labels: Image | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", _frozen(self.parameters))

    def replace(self, **changes: Any) -> Request:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return Request(**values)


@dataclass(frozen=True, eq=False)
class Result:
    """The outcome of a run.

    Attributes:
        method: the method's name (for chains: "rigid,affine,bspline").
        transform: fixed -> moving, including the request's initial transform; for a cancelled run
            the last transform reached; for a failed run the initial transform (or identity).
        status: "completed", "cancelled" or "failed".
        parameters: the values used.
        runtime_s: wall time of the run.
        metric_history: (stage, level, iteration, metric value) tuples, lower is better.
        message: why the run stopped (optimiser stop condition, cancel, or the error message).
        log: free-form lines for the run history.
    """

    method: str
    transform: Transform
    status: str = "completed"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    runtime_s: float = 0.0
    metric_history: tuple[tuple[str, int, int, float], ...] = ()
    message: str = ""
    log: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown result status {self.status!r}")
        object.__setattr__(self, "parameters", _frozen(self.parameters))
        object.__setattr__(self, "metric_history", tuple(self.metric_history))
        object.__setattr__(self, "log", tuple(self.log))

    def inverse(self) -> Transform:
        """The moving -> fixed map (for carrying points): exact for linear results, numerical otherwise."""
        return self.transform.inverse()
