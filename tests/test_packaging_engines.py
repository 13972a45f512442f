"""The PyInstaller spec bundles the [elastix] and [ants] extras: the packages it collects are the extras',
they import here, itk's lazily loaded parts are files the spec collects, and no module the engines need at
import is in the spec's EXCLUDES (unless the spec keeps it for that engine)."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ast.parse((ROOT / "packaging" / "regviewer.spec").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
USE = {  # what the engines do with each package (regviewer.registration.elastix / ants)
    "itk": "import itk, numpy; itk.ElastixRegistrationMethod; itk.ParameterObject.New(); "
    "itk.image_from_array(numpy.zeros((4, 4, 4), numpy.float32))",
    "ants": "import ants; ants.registration",
}


def _literal(name: str):
    for node in SPEC.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"packaging/regviewer.spec assigns no literal {name}")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_spec_collects_the_extras_distributions():
    packages = _literal("ENGINE_PACKAGES")
    bundled = {d for distributions in packages.values() for d in distributions}
    for extra in ("elastix", "ants"):
        for requirement in PYPROJECT["project"]["optional-dependencies"][extra]:
            name = re.split(r"[<>=!~\[ ]", requirement)[0]
            assert name in bundled, f"the [{extra}] extra's {name} is not in the spec's ENGINE_PACKAGES"
    for package, distributions in packages.items():
        assert importlib.util.find_spec(package) is not None, package
        for distribution in distributions:
            assert importlib.metadata.version(distribution)  # copy_metadata would fail on a wrong name


def test_itk_lazy_modules_are_files_the_spec_collects():
    """itk imports itk.<Module>Python and its _<Module>Python .so by name: both must sit in the package folder
    (the spec takes every submodule, every shared library and the Configuration folder)."""
    folder = Path(importlib.util.find_spec("itk").origin).parent
    for module in ("Elastix", "ITKCommon", "ITKBridgeNumPy"):
        assert (folder / f"{module}Python.py").is_file(), module
        assert list(folder.glob(f"_{module}Python*.so")) or list(folder.glob(f"_{module}Python*.pyd")), module
        assert (folder / "Configuration" / f"{module}Config.py").is_file(), module


@pytest.mark.parametrize("package", ["itk", "ants"])
def test_no_module_an_engine_needs_is_excluded(package):
    excludes = set(_literal("EXCLUDES"))
    kept = set(_literal("ENGINE_NEEDS").get(package, ()))
    loaded = _run(USE[package] + "; import sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    assert loaded.returncode == 0, loaded.stderr[-500:]
    touched = sorted((excludes & set(loaded.stdout.split())) - kept)
    needed = [name for name in touched if _run(f"import sys; sys.modules[{name!r}] = None; {USE[package]}").returncode]
    assert not needed, f"{package} fails without {needed}, which the spec excludes"
    for name in kept:  # and what the spec keeps for it is really needed
        assert _run(f"import sys; sys.modules[{name!r}] = None; {USE[package]}").returncode != 0, name
