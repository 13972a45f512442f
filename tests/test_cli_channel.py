"""``--channel`` on the command line: register / render / the window command register (or show the
difference) on the chosen channel of colour pictures; a wrong value is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fundus import write_fundus_pair

from regviewer.cli import main
from regviewer.registration import command_line
from regviewer.registration.pipeline import Stage


@pytest.fixture(scope="module")
def fundus(tmp_path_factory):
    fixed, moving, _ = write_fundus_pair(tmp_path_factory.mktemp("fundus"), 128)
    return str(fixed), str(moving)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("regviewer: error:")
    return lines[0]


def test_register_on_a_chosen_channel(fundus, tmp_path, capsys):
    fixed, moving = fundus
    before = {}
    for channel in ("green", "red", None):
        out = tmp_path / f"out-{channel}"
        argv = ["register", fixed, moving, "-o", str(out), "--method", "affine", "--param", "iterations=5"]
        argv += ["--channel", channel] if channel else []
        assert main(argv) == 0
        err = capsys.readouterr().err
        if channel:
            assert f"registered on the {channel} channel" in err
        before[channel] = json.loads((out / "metrics.json").read_text())["before"]["ncc"]
    # the figures are computed on the registered channel: each channel gives its own starting NCC
    assert len({round(value, 6) for value in before.values()}) == 3, before


def test_wrong_channel_is_one_line_and_exit_2(fundus, tmp_path, capsys):
    fixed, moving = fundus
    assert main(["register", fixed, moving, "-o", str(tmp_path / "o"), "--channel", "purple"]) == 2
    line = _one_error_line(capsys)
    assert "--channel purple" in line and "luminance, red, green, blue" in line
    assert not (tmp_path / "o" / "metrics.json").exists()
    assert main(["render", fixed, moving, "-o", str(tmp_path / "f.png"), "--channel", "uv"]) == 2
    assert "--channel uv" in _one_error_line(capsys)
    assert main([fixed, moving, "--channel", "alpha"]) == 2  # the window command: refused before any window
    assert "--channel alpha" in _one_error_line(capsys)


def test_render_difference_on_the_chosen_channel(fundus, tmp_path):
    from regviewer.core.io import read_image

    fixed, moving = fundus
    shots = {}
    for channel in ("luminance", "blue"):
        path = tmp_path / f"{channel}.png"
        argv = ["render", fixed, moving, "-o", str(path), "--layout", "1x1", "--mode", "difference"]
        assert main([*argv, "--size", "300x300", "--channel", channel]) == 0
        shots[channel] = read_image(path).colour
    assert shots["luminance"] is not None and shots["luminance"].shape == shots["blue"].shape
    changed = np.abs(shots["luminance"].astype(int) - shots["blue"].astype(int)).max(axis=-1) > 20
    assert changed.mean() > 0.01, changed.mean()  # the difference view shows another channel


def test_command_line_carries_the_channel_and_the_automatic_mask(tmp_path):
    from regviewer.registration.presets import get_preset, load_preset_file

    stages = tuple(get_preset("retina-2d").stages)
    spec = command_line.RunSpec(stages, "f.png", "m.png", "out", preset="retina-2d", channel="green", auto_mask="fov")
    argv = command_line.command_arguments(spec)
    assert argv[argv.index("--preset") + 1] == "retina-2d" and argv[argv.index("--channel") + 1] == "green"
    luminance = command_line.command_arguments(
        command_line.RunSpec(stages, "f.png", "m.png", "out", channel="luminance")
    )
    assert "--channel" not in luminance  # the default
    # edited stages with the automatic mask: --method cannot ask for it, a preset file carries it
    edited = (stages[0], Stage("bspline", {**stages[1].parameters, "mesh_spacing_mm": 32.0}))
    chain = str(tmp_path / "chain.json")
    spec = command_line.RunSpec(edited, "f.png", "m.png", "out", chain_file=chain, auto_mask="fov")
    assert command_line.needs_chain_file(spec)
    command_line.write_chain_file(edited, chain, auto_mask="fov")
    assert command_line.command_arguments(spec)[5:7] == ["--preset", chain]
    assert load_preset_file(tmp_path / "chain.json").mask == "fov"


def test_window_command_passes_the_channel_to_the_window(fundus, monkeypatch):
    import regviewer.gui.app as gui_app

    opened = []
    monkeypatch.setattr(gui_app, "run_gui", lambda **kwargs: opened.append(kwargs) or 0)
    fixed, moving = fundus
    assert main([fixed, moving, "--channel", "Green"]) == 0
    assert opened[0]["channel"] == "green" and opened[0]["fixed"] == fixed
    assert main([fixed, moving]) == 0 and opened[1]["channel"] == "luminance"
