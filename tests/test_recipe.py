"""Recipes: a whole run in one file, run from scratch and resumed exactly, its mistakes one line each."""

from pathlib import Path

import pytest
import torch

from vgan_lib.checkpoint import load_checkpoint
from vgan_lib.errors import UsageError
from vgan_lib.recipe import load_recipe, run_recipe

ROOT = Path(__file__).resolve().parent.parent


def write_recipe(path, list_file, phases):
    text = f"""
[model]
preset = "small"
frames = 16
size = 16
width = 4
z_dim = 8
[data]
list = "{list_file}"
[train]
batch_size = 4
seed = 1
precision = "fp32"
channels_last = false
"""
    for steps, extra in phases:
        text += f"[[phase]]\nsteps = {steps}\n{extra}\n"
    path.write_text(text)
    return load_recipe(path)


TWO_PHASES = [(3, ""), (3, "lr = 1e-4\nextras = { flicker = 2.0 }\nnew_optimisers = true")]


def _weights(path):
    state = load_checkpoint(path)
    return [*state["G"].values(), *state["D"].values()], state


@pytest.mark.parametrize("stop_at", [[(3, "")], [(3, ""), (1, TWO_PHASES[1][1])]], ids=["at-boundary", "mid-phase"])
def test_a_recipe_stopped_and_resumed_ends_bit_for_bit_where_the_whole_run_does(tmp_path, synthetic_dir, stop_at):
    lst = synthetic_dir / "train.txt"
    whole = write_recipe(tmp_path / "whole.toml", lst, TWO_PHASES)
    run_recipe(whole, tmp_path / "straight", progress=False, log=lambda *_: None)
    run_recipe(write_recipe(tmp_path / "part.toml", lst, stop_at), tmp_path / "stopped", progress=False,
               log=lambda *_: None)
    run_recipe(whole, tmp_path / "stopped", resume_run=True, progress=False, log=lambda *_: None)
    (a, sa), (b, sb) = (_weights(tmp_path / run / "checkpoint.pt") for run in ("straight", "stopped"))
    assert sa["step"] == sb["step"] == 6
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert sa["history"] == sb["history"] and sa["opt_G"]["state"][0]["step"] == sb["opt_G"]["state"][0]["step"]
    # the second phase trained with its own settings and a fresh Adam
    assert sa["train_config"]["lr"] == 1e-4 and sa["train_config"]["extras"] == {"flicker": 2.0}
    assert int(sa["opt_G"]["state"][0]["step"]) == 3


def test_a_finished_recipe_is_not_run_over_and_a_finished_folder_needs_resume(tmp_path, synthetic_dir):
    recipe = write_recipe(tmp_path / "r.toml", synthetic_dir / "train.txt", [(2, "")])
    run_recipe(recipe, tmp_path / "run", progress=False, log=lambda *_: None)
    with pytest.raises(UsageError, match="checkpoint.pt exists: pass --resume"):
        run_recipe(recipe, tmp_path / "run", progress=False)
    assert run_recipe(recipe, tmp_path / "run", resume_run=True, progress=False, log=lambda *_: None).step_count == 2


@pytest.mark.parametrize("text, message", [
    ("[model]\npreset='small'\n[data]\nlist='x'\n[[phase]]\nsteps=2\nlearning_rate=1", "phase 1: .*'learning_rate'"),
    ("[data]\nlist='x'\n[[phase]]\nsteps=0", "phase 1: 'steps' must be at least 1, got 0"),
    ("[data]\nlist='x'\n[[phase]]\nsteps=2\nbatch_size=0", "phase 1: batch_size must be at least 1, got 0"),
    ("[data]\nlist='x'\n[[phase]]\nsteps=2\nextras={r1=1}", "phase 1: unknown extra term 'r1'"),
    ("[data]\nlist='x'\n", "a recipe needs at least one \\[\\[phase\\]\\]"),
    ("[[phase]]\nsteps=1", "\\[data\\] needs 'list'"),
    ("[model]\npreset='huge'\n[data]\nlist='x'\n[[phase]]\nsteps=1", "unknown preset 'huge'"),
    ("phases = 3", "unknown recipe key 'phases'"),
    ("threads = 0\n[data]\nlist='x'\n[[phase]]\nsteps=1", "'threads' must be at least 1, got 0"),
    ("[data]\nlist='x'\nsynthetic={count=0}\n[[phase]]\nsteps=1", "count must be at least 1, got 0"),
    ("[data\nlist=", "not a TOML recipe"),
])
def test_every_mistake_in_a_recipe_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=f"bad.toml: {message}") as err:
        load_recipe(path)
    assert "\n" not in str(err.value)


def test_the_shipped_models_recipe_is_its_schedule():
    recipe = load_recipe(ROOT / "recipes" / "small-synthetic.toml")
    assert recipe.ends() == [4500, 5400, 5700, 6200, 7000]
    assert [(p.config.lr, p.config.mask_lambda) for p in recipe.phases] == [
        (2e-4, 0.1), (1e-4, 20.0), (5e-5, 20.0), (5e-5, 50.0), (2e-5, 50.0)]
    assert recipe.phases[-1].config.extras == {"blend": 50.0, "flicker": 300.0} and recipe.phases[-1].new_optimisers
    assert recipe.model_config.to_dict() == {"frames": 16, "size": 32, "z_dim": 100, "width": 32,
                                             "generator": "two_stream"}


def test_every_command_in_the_shipped_models_manifest_runs_with_todays_cli():
    import json
    import shlex

    from vgan_lib.cli import build_parser

    manifest = json.loads((ROOT / "vgan_lib" / "weights" / "small-synthetic.json").read_text())
    assert manifest["recipe"] == "recipes/small-synthetic.toml"
    commands = [shlex.split(c.split("#")[0]) for c in manifest["commands"]]
    vgan = [c[c.index("vgan") + 1:] for c in commands if "vgan" in c]
    assert len(vgan) >= 7
    for argv in vgan:
        build_parser().parse_args(argv)   # exits with status 2 on an option the CLI no longer has
