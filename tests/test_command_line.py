"""The `regviewer register ...` line written for a run: shortest exact form, preset files when needed."""

import json
import shlex

import pytest

from regviewer.registration.base import resolve_parameters
from regviewer.registration.command_line import (
    RunSpec,
    command_arguments,
    format_value,
    needs_chain_file,
    shell_line,
    write_chain_file,
)
from regviewer.registration.pipeline import Stage
from regviewer.registration.presets import get_preset
from regviewer.registration.registry import default_registry


def _full(method: str, **changes) -> Stage:
    return Stage(method, {**resolve_parameters(default_registry().get(method)), **changes})


def _preset_stages(name: str) -> tuple[Stage, ...]:
    registry = default_registry()
    return tuple(
        Stage(s.method, resolve_parameters(registry.get(s.method), s.parameters)) for s in get_preset(name).stages
    )


def _spec(stages, preset=None, **more) -> RunSpec:
    return RunSpec(tuple(stages), "/data/fixed image.nii.gz", "/data/moving.nii.gz", "/out/run-1", preset, **more)


def test_an_unchanged_preset_is_named():
    argv = command_arguments(_spec(_preset_stages("deformable"), "deformable"))
    assert argv == [
        "register",
        "/data/fixed image.nii.gz",
        "/data/moving.nii.gz",
        "-o",
        "/out/run-1",
        "--preset",
        "deformable",
    ]
    assert shell_line(argv).startswith("regviewer register '/data/fixed image.nii.gz' /data/moving.nii.gz")


def test_a_method_with_changed_values_gets_params():
    stage = _full("rigid", iterations=50, sampling_percentage=12.5, shrink_factors=(2, 1), smoothing_sigmas=(1.0, 0.0))
    argv = command_arguments(_spec([stage], fixed_mask="/data/mask.nii.gz", init="/tmp/init.tfm"))
    params = [argv[i + 1] for i, word in enumerate(argv) if word == "--param"]
    assert argv[5:7] == ["--method", "rigid"]
    assert sorted(params) == [
        "iterations=50",
        "sampling_percentage=12.5",
        "shrink_factors=2,1",
        "smoothing_sigmas=1.0,0.0",
    ]
    assert argv[-4:] == ["--fixed-mask", "/data/mask.nii.gz", "--init", "/tmp/init.tfm"]


def test_a_change_shared_by_every_stage_stays_a_preset_param():
    stages = [Stage(s.method, {**s.parameters, "metric": "ncc"}) for s in _preset_stages("affine")]
    argv = command_arguments(_spec(stages, "affine"))
    assert argv[5:] == ["--preset", "affine", "--param", "metric=ncc"]


def test_a_change_to_one_stage_of_a_chain_needs_a_preset_file(tmp_path):
    stages = list(_preset_stages("affine"))
    stages[1] = Stage("affine", {**stages[1].parameters, "iterations": 17})  # the rigid stage keeps 200
    spec = _spec(stages, "affine", chain_file=str(tmp_path / "chain.json"))
    assert needs_chain_file(spec)
    with pytest.raises(ValueError):
        command_arguments(_spec(stages, "affine"))
    write_chain_file(stages, spec.chain_file)
    argv = command_arguments(spec)
    assert argv[5:] == ["--preset", spec.chain_file]
    reread = get_preset(spec.chain_file).stages
    registry = default_registry()
    assert [resolve_parameters(registry.get(s.method), s.parameters) for s in reread] == [
        resolve_parameters(registry.get(s.method), s.parameters) for s in stages
    ]
    assert json.loads((tmp_path / "chain.json").read_text())["stages"][1]["parameters"]["iterations"] == 17


def test_values_parse_back_exactly():
    parameter = {p.name: p for p in default_registry().get("rigid").parameters}
    assert parameter["learning_rate"].validate(format_value(0.1 + 0.2)) == 0.1 + 0.2
    assert parameter["smoothing_sigmas"].validate(format_value((1.0 / 3.0, 0.0))) == (1.0 / 3.0, 0.0)
    assert format_value(True) == "yes" and format_value(False) == "no"


def test_images_not_from_files_give_a_clear_error():
    spec = RunSpec((_full("rigid"),), None, "/data/moving.nii.gz", "/out")
    with pytest.raises(ValueError, match="fixed image was not loaded from a file"):
        command_arguments(spec)


def test_the_line_is_quoted_for_a_shell():
    argv = command_arguments(_spec([_full("rigid")]))
    assert shlex.split(shell_line(argv))[1:] == argv
