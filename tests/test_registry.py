"""Parameter schema validation and method discovery (a broken plugin is reported, never fatal)."""

from importlib import metadata

import pytest

from regviewer.registration.base import Parameter, ParameterError, resolve_parameters
from regviewer.registration.registry import GROUP, build_registry, default_registry


def test_builtins_are_registered_through_entry_points():
    registry = default_registry()
    for name in ("rigid", "similarity", "affine", "bspline", "demons"):
        method = registry.get(name)
        assert method.name == name and method.label and method.parameters
    assert registry.errors == {}


def test_broken_plugin_is_reported_not_fatal():
    entries = [
        metadata.EntryPoint("affine", "regviewer.registration.classic:AffineMethod", GROUP),
        metadata.EntryPoint("broken", "no_such_module_xyz:Method", GROUP),
        metadata.EntryPoint("notamethod", "math:pi", GROUP),
    ]
    registry = build_registry(entries)
    assert registry.names() == ["affine"]
    assert "ModuleNotFoundError" in registry.errors["broken"]
    assert "notamethod" in registry.errors


def test_parameter_validation():
    levels = Parameter("shrink_factors", "int_list", (4, 2, 1), minimum=1)
    assert levels.validate("8,4, 2") == (8, 4, 2)
    with pytest.raises(ParameterError, match="whole number"):
        levels.validate("4,2.5")
    rate = Parameter("rate", "float", 1.0, minimum=0, maximum=10)
    with pytest.raises(ParameterError, match="above the maximum"):
        rate.validate("11")
    with pytest.raises(ParameterError, match="number"):
        rate.validate("fast")
    assert Parameter("flag", "bool", True).validate("no") is False
    with pytest.raises(ParameterError, match="not one of"):
        Parameter("metric", "choice", "mi", choices=("mi", "mse")).validate("ssd")


def test_resolve_parameters_rejects_unknown_names():
    affine = default_registry().get("affine")
    resolved = resolve_parameters(affine, {"iterations": "20"})
    assert resolved["iterations"] == 20 and resolved["metric"] == "mi"
    with pytest.raises(ParameterError, match="unknown parameter"):
        resolve_parameters(affine, {"iteratoins": 20})
