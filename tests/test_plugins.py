"""The example plugin loads through the entry-point mechanism, works, and uses only the public API."""

import ast
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from helpers import foreground_points, max_error_mm, moving_for

from regviewer.core.io import read_image
from regviewer.core.transforms import AffineTransform
from regviewer.registration.base import Request
from regviewer.registration.pipeline import Stage, run_chain
from regviewer.registration.registry import GROUP, build_registry

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "regviewer-phase-correlation"
PUBLIC = ("regviewer.core", "regviewer.registration.base")


def test_plugin_imports_only_the_public_api():
    for path in PLUGIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            for module in modules:
                if module.startswith("regviewer"):
                    assert module.startswith(PUBLIC), f"{path.name} imports {module}"


def test_plugin_registers_and_recovers_a_translation(shared_data, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN))
    entry = metadata.EntryPoint("phase-correlation", "regviewer_phase_correlation:PhaseCorrelationMethod", GROUP)
    builtin = metadata.EntryPoint("rigid", "regviewer.registration.classic:RigidMethod", GROUP)
    registry = build_registry([entry, builtin])
    assert registry.errors == {} and registry.names() == ["phase-correlation", "rigid"]
    fixed = read_image(shared_data / "brain2d" / "r16slice.jpg")
    truth = AffineTransform(np.eye(2), (23.4, -17.2))
    moving = moving_for(fixed, truth)
    result = run_chain([Stage("phase-correlation")], Request(fixed, moving), registry=registry)
    error = max_error_mm(result.transform, truth, foreground_points(fixed))
    assert error < 0.3, error
    chained = run_chain(
        [Stage("phase-correlation"), Stage("rigid", {"metric": "mse"})], Request(fixed, moving), registry=registry
    )
    assert max_error_mm(chained.transform, truth, foreground_points(fixed)) < 0.3
    sys.modules.pop("regviewer_phase_correlation", None)
