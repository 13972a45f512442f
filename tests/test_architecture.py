"""Import rules of ARCHITECTURE.md, enforced: a Qt-free core, lazy torch / vtk, a light CLI start."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "regviewer"
GUI_ONLY = ("PySide6", "pyqtgraph", "vtkmodules.qt", "shiboken6")
HEAVY = ("torch", "vtk", "vtkmodules")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def _violations(folder: str, forbidden: tuple[str, ...], top_level_only: bool = False, exempt: str = "") -> list[str]:
    bad = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        if exempt and (PACKAGE / exempt) in path.parents:
            continue
        for module, at_top in _imports(path):
            if module.split(".")[0] in {f.split(".")[0] for f in forbidden} and any(
                module == f or module.startswith(f + ".") for f in forbidden
            ):
                if at_top or not top_level_only:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}: {module}")
    return bad


def test_core_imports_no_gui_torch_or_vtk():
    assert _violations("core", GUI_ONLY + HEAVY) == []


def test_registration_imports_no_gui_and_torch_only_lazily():
    """torch at module top level only inside registration/torch_backend, which others import lazily."""
    assert _violations("registration", GUI_ONLY) == []
    assert _violations("registration", HEAVY, top_level_only=True, exempt="registration/torch_backend") == []
    backend = ("regviewer.registration.torch_backend",)
    assert _violations("registration", backend, top_level_only=True, exempt="registration/torch_backend") == []
    assert _violations("registration/torch_backend", ("vtk", "vtkmodules")) == []


def test_cli_start_imports_no_qt_torch_or_vtk():
    code = (
        "import sys, regviewer.cli, regviewer.cli.register, regviewer.core.io, regviewer.registration.registry;"
        "regviewer.registration.registry.default_registry();"
        "print(','.join(m for m in ('PySide6', 'pyqtgraph', 'torch', 'vtk', 'vtkmodules') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_app_model_imports_no_qt_torch_vtk_gui_or_cli():
    """regviewer.app is the Qt-free application model: core and registration only."""
    assert _violations("app", GUI_ONLY + HEAVY + ("regviewer.gui", "regviewer.cli")) == []
    code = (
        "import sys, regviewer.app;"
        "print(','.join(m for m in ('PySide6', 'pyqtgraph', 'torch', 'vtk', 'vtkmodules', 'regviewer.gui', 'regviewer.cli')"
        " if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_gui_never_imports_cli():
    assert _violations("gui", ("regviewer.cli",)) == []
