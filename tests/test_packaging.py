"""What a wheel, an sdist and a frozen bundle need: resources inside the package, licences beside data, one version."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import regviewer
from regviewer import paths

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_resources_are_found_inside_the_installed_package():
    # importlib.resources locates them next to the regviewer package, not beside site-packages.
    package = Path(regviewer.__file__).resolve().parent
    assert paths.RESOURCES == package / "resources"
    for path in (
        paths.SAMPLE_2D_FIXED,
        paths.SAMPLE_2D_MOVING,
        paths.SAMPLE_3D_FIXED,
        paths.SAMPLE_3D_MOVING,
        paths.SAMPLE_3D_FIXED_LABELS,
        paths.SAMPLE_3D_MOVING_LABELS,
        paths.SAMPLE_3D_TRUTH,
        paths.MODELS / "brain2d.pt",
        paths.MODELS / "brain3d.pt",
        paths.MODELS / "prostate3d.pt",
        paths.APP_ICON_SVG,
        paths.APP_ICON_PNG,
        paths.COLOUR_TABLES / "FreeSurferColorLUT_subset.txt",
    ):
        assert path.is_file(), path


def test_every_resource_file_is_declared_as_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["regviewer"]
    package = ROOT / "regviewer"
    for path in paths.RESOURCES.rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        relative = path.relative_to(package).as_posix()
        assert any(
            fnmatch(relative, pattern.replace("**/", "")) or fnmatch(relative, pattern) for pattern in patterns
        ), relative


def test_icons_in_every_size_the_installers_use():
    from PIL import Image

    for size in (16, 32, 48, 64, 128, 256, 512):
        with Image.open(paths.ICONS / f"regviewer-{size}.png") as image:
            assert image.size == (size, size) and image.mode == "RGBA"
    with Image.open(paths.ICONS / "regviewer.ico") as ico:
        assert {(256, 256), (48, 48), (16, 16)} <= set(ico.info["sizes"])
    with Image.open(paths.ICONS / "regviewer.icns") as icns:
        assert (512, 512, 2) in icns.info["sizes"]


def test_one_version_string():
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "regviewer.__version__"}
    assert regviewer.__version__.count(".") >= 2


def test_licence_file_and_metadata():
    project = PYPROJECT["project"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    for key in ("authors", "keywords", "classifiers", "urls", "requires-python"):
        assert project.get(key), key


def test_test_data_ships_with_its_licences():
    data = ROOT / "tests" / "data"
    assert (data / "SOURCES.md").is_file()
    for folder in ("brain2d", "brain3d", "multimodal2d", "prostate_cohort"):
        assert any((data / folder).glob("LICENSE*")) or any((data / folder).glob("SOURCE*")), folder
