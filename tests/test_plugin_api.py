"""The public plugin API (regviewer.api): what it exports, that the example plugins use nothing else,
that readers / writers / trainers plug in, and that Help > Plugins-style inventories see failures."""

from __future__ import annotations

import ast
import os
from importlib import metadata

import numpy as np
import pytest
from plugin_helpers import declared_entry_points, plugin_folders, plugin_on_path

import regviewer.api as api
from regviewer.core.io import plugins as io_plugins
from regviewer.registration import trainers
from regviewer.registration.registry import GROUP, build_registry


def _regviewer_imports(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [module for module in found if module.split(".")[0] == "regviewer"]


def test_api_exports_the_stable_names_with_a_version():
    major, minor = api.API_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()
    for name in api.__all__:
        assert hasattr(api, name), name
    for required in (
        "Image",
        "Geometry",
        "AffineTransform",
        "DisplacementFieldTransform",
        "Parameter",
        "Request",
        "Result",
        "ProgressEvent",
        "CancelToken",
        "register_reader",
        "register_writer",
        "atomic_path",
        "TrainOptions",
    ):
        assert required in api.__all__


def test_every_example_plugin_imports_only_regviewer_api():
    folders = plugin_folders()
    assert len(folders) >= 4, folders  # phase-correlation, npy, tvl1, stn
    for folder in folders:
        for path in folder.rglob("*.py"):
            bad = [module for module in _regviewer_imports(path) if module != "regviewer.api"]
            assert bad == [], f"{path.relative_to(folder.parent)} imports {bad}: plugins may import only regviewer.api"


def test_every_declared_method_loads_and_registers():
    for folder in plugin_folders():
        entries = declared_entry_points(folder, GROUP)
        with plugin_on_path(folder):
            registry = build_registry(entries)
        assert registry.errors == {}, registry.errors
        assert registry.names() == [entry.name for entry in entries]


def test_installed_plugins_are_in_the_default_registry():
    """Plugins installed with pip are found through their real metadata (CI installs every plugins/*
    distribution and sets REGVIEWER_REQUIRE_PLUGINS=1, so there a missing install fails)."""
    import tomllib

    required = os.environ.get("REGVIEWER_REQUIRE_PLUGINS") == "1"
    registry = build_registry()
    for folder in plugin_folders():
        name = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            assert not required, f"{name} is not installed"
            continue
        for entry in declared_entry_points(folder, GROUP):
            assert entry.name in registry.names(), (entry.name, registry.errors)


@pytest.fixture
def npy_plugin():
    folder = next(f for f in plugin_folders() if f.name == "regviewer-npy")
    with plugin_on_path(folder):
        reader, writer = (
            entry.load()
            for group in (io_plugins.READER_GROUP, io_plugins.WRITER_GROUP)
            for entry in declared_entry_points(folder, group)
        )
        api.register_reader(reader)
        api.register_writer(writer)
        yield reader
    io_plugins.unregister(reader.name)


def test_reader_and_writer_plugins_round_trip_through_read_and_write_image(npy_plugin, tmp_path):
    image = api.Image(
        np.arange(60, dtype=np.float32).reshape(3, 4, 5), api.Geometry((3, 4, 5), (0.5, 1, 2), (10, -4, 3))
    )
    api.write_image(image, tmp_path / "out" / "volume.npy")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "volume.npy",
        "volume.npy.json",
    ]  # no temporary left
    back = api.read_image(tmp_path / "out" / "volume.npy")
    assert np.array_equal(back.array, image.array) and back.geometry.same_as(image.geometry)
    labels = api.read_image(tmp_path / "out" / "volume.npy", is_label=True)
    assert labels.is_label and labels.array.dtype.kind in "iu"


def test_a_failing_reader_gives_one_line_and_cannot_take_builtin_formats(npy_plugin, tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    with pytest.raises(api.ImageReadError) as raised:
        api.read_image(tmp_path / "broken.npy")
    assert "\n" not in str(raised.value) and "broken.npy" in str(raised.value) and "npy plugin" in str(raised.value)
    with pytest.raises(TypeError, match="read by RegViewer itself"):
        api.register_reader(api.ImageReader("evil", (".nii.gz",), lambda path, **k: None))
    assert io_plugins.reader_for(tmp_path / "a.nii.gz") is None


def test_broken_reader_entry_points_are_reported_not_raised(monkeypatch):
    broken = [
        metadata.EntryPoint("ghost", "no_such_module_r14:READER", io_plugins.READER_GROUP),
        metadata.EntryPoint("wrong", "os:sep", io_plugins.READER_GROUP),
    ]
    monkeypatch.setattr(
        io_plugins.metadata, "entry_points", lambda group: broken if group == io_plugins.READER_GROUP else []
    )
    monkeypatch.setattr(io_plugins, "_loaded_groups", set())
    monkeypatch.setattr(io_plugins, "_errors", {})
    monkeypatch.setattr(io_plugins, "_registered", {io_plugins.READER_GROUP: {}, io_plugins.WRITER_GROUP: {}})
    errors = io_plugins.plugin_errors()
    assert "ModuleNotFoundError" in errors["regviewer.readers:ghost"]
    assert "ImageReader" in errors["regviewer.readers:wrong"]
    assert io_plugins.readers() == []


def test_train_dispatches_to_a_named_trainer_with_clear_errors(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('trainer = "demo"\n[model]\nshape = [32, 32]\n')
    assert trainers.trainer_name(config) == "demo"
    plain = tmp_path / "plain.toml"
    plain.write_text("[model]\nshape = [32, 32]\n")
    assert trainers.trainer_name(plain) is None
    entry = metadata.EntryPoint("demo", "builtins:print", trainers.GROUP)
    assert trainers.find_trainer("demo", [entry]) is print
    with pytest.raises(api.RegViewerError, match="no trainer 'other' is installed; installed trainers: demo"):
        trainers.find_trainer("other", [entry])
    with pytest.raises(api.RegViewerError, match="failed to load"):
        trainers.find_trainer("bad", [metadata.EntryPoint("bad", "no_such_module_r14:train", trainers.GROUP)])


def test_inventory_lists_plugins_with_versions_and_failures(monkeypatch):
    from regviewer import plugins as inventory
    from regviewer.registration.registry import Registry

    registry = Registry()
    registry.errors["broken-method"] = "broken_pkg:Method: ImportError: no module named torchvision"
    monkeypatch.setattr(inventory, "default_registry", lambda: registry)
    entries = inventory.installed_plugins()
    failed = [entry for entry in entries if entry.name == "broken-method"]
    assert failed and "torchvision" in failed[0].error and not failed[0].loaded
    assert entries[0].name == "broken-method"  # failures first among plugins
    assert "FAILED: broken_pkg:Method" in inventory.format_plugins(entries)
