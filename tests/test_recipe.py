"""Recipes: a whole run in one file, run from scratch and resumed exactly, its mistakes one line each."""

from pathlib import Path

import pytest
import torch

from vgan_lib.checkpoint import load_checkpoint
from vgan_lib.errors import UsageError
from vgan_lib.recipe import load_recipe, run_recipe

from conftest import write_recipe

ROOT = Path(__file__).resolve().parent.parent


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


def test_the_first_models_recipe_is_its_schedule():
    recipe = load_recipe(ROOT / "research" / "results" / "first-model.toml")
    assert recipe.ends() == [4500, 5400, 5700, 6200, 7000]
    assert [(p.config.lr, p.config.mask_lambda) for p in recipe.phases] == [
        (2e-4, 0.1), (1e-4, 20.0), (5e-5, 20.0), (5e-5, 50.0), (2e-5, 50.0)]
    assert recipe.phases[-1].config.extras == {"blend": 50.0, "flicker": 300.0} and recipe.phases[-1].new_optimisers
    assert recipe.model_config.to_dict() == {"frames": 16, "size": 32, "z_dim": 100, "width": 32,
                                             "generator": "two_stream", "minibatch_std": 0,
                                             "minibatch_features": 0}


@pytest.mark.parametrize("manifest, at_least", [("vgan_lib/weights/small-synthetic.json", 1),
                                                ("research/results/first-model.json", 7)])
def test_every_command_in_a_manifest_runs_with_todays_cli(manifest, at_least):
    import json
    import shlex

    from vgan_lib.cli import build_parser

    info = json.loads((ROOT / manifest).read_text())
    assert (ROOT / info["recipe"]).is_file()
    commands = [shlex.split(c.split("#")[0]) for c in info["commands"]]
    vgan = [c[c.index("vgan") + 1:] for c in commands if "vgan" in c]
    assert len(vgan) >= at_least
    for argv in vgan:
        build_parser().parse_args(argv)   # exits with status 2 on an option the CLI no longer has


def test_a_recipe_keeps_the_fixed_latents_videos_and_figures_along_the_run_and_a_resume_completes_them(
        tmp_path, synthetic_dir):
    from vgan_lib.history import HISTORY_LATENTS, load_history

    lst = synthetic_dir / "train.txt"
    whole = write_recipe(tmp_path / "whole.toml", lst, [(5, "")])
    whole.history_every = 2
    run_recipe(whole, tmp_path / "straight", progress=False, log=lambda *_: None)
    h = load_history(tmp_path / "straight" / "history")
    assert h.steps == [0, 2, 4, 5]   # step 0, every 2 steps, and the last
    assert h.videos.shape == (4, HISTORY_LATENTS, 16, 16, 16, 3) and h.videos.dtype.name == "uint8"
    assert {"motion_overlap", "factor_frechet", "still_share", "motion_ratio"} <= set(h.figures[-1])
    assert h.real["motion_overlap"] < 1 and h.figures[0] != h.figures[-1]
    # a run stopped at step 3, its step-4 history not yet made, ends with the same history
    part = write_recipe(tmp_path / "part.toml", lst, [(3, "")])
    part.history_every = 2
    run_recipe(part, tmp_path / "stopped", progress=False, log=lambda *_: None)
    run_recipe(whole, tmp_path / "stopped", resume_run=True, progress=False, log=lambda *_: None)
    again = load_history(tmp_path / "stopped" / "history")
    assert again.steps == [0, 2, 3, 4, 5] and again.figures[-1] == h.figures[-1]
    assert (again.videos[[0, 1, 3, 4]] == h.videos).all()


def test_clips_kept_in_memory_are_the_decoded_clips_to_the_nearest_level(synthetic_dir):
    from vgan_lib.data import GolfClips

    lst = synthetic_dir / "train.txt"
    on_disk, in_memory = GolfClips(lst, frames=16, size=16), GolfClips(lst, frames=16, size=16, in_memory=True)
    assert len(on_disk) == len(in_memory) and in_memory.clips.dtype == torch.uint8
    for i in (0, len(on_disk) - 1):
        assert (on_disk[i] - in_memory[i]).abs().max() <= 1 / 255 + 1e-6


def test_a_recipe_names_its_history_and_memory_settings_right_or_says_which_is_wrong(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("history_every = -1\n[data]\nlist='x'\n[[phase]]\nsteps=1")
    with pytest.raises(UsageError, match="bad.toml: 'history_every' must be at least 1, got -1"):
        load_recipe(path)
    path.write_text("[data]\nlist='x'\nin_memory='yes'\n[[phase]]\nsteps=1")
    with pytest.raises(UsageError, match="bad.toml: \\[data\\] 'in_memory' must be true or false"):
        load_recipe(path)


def test_the_shipped_model_is_its_recipes_last_step_in_fp32_on_one_thread_with_its_history_beside_it():
    import json

    from vgan_lib.history import training_history

    recipe = load_recipe(ROOT / "recipes" / "small-synthetic.toml")
    info = json.loads((ROOT / "vgan_lib" / "weights" / "small-synthetic.json").read_text())
    assert info["recipe"] == "recipes/small-synthetic.toml" and info["commands"] == [
        "vgan train --recipe recipes/small-synthetic.toml --out runs/small-synthetic"]
    assert recipe.init is None and recipe.threads == info["threads"] == 1 and recipe.history_every == 1000
    assert info["iterations"] == recipe.ends()[-1] and info["model_config"] == recipe.model_config.to_dict()
    assert all(p.config.precision == "fp32" for p in recipe.phases)     # repeats bit for bit, on any CPU
    assert recipe.phases[0].config.mask_lambda == 0.1 and not recipe.phases[0].config.extras   # the original first
    assert recipe.data["in_memory"] and recipe.data["synthetic"].seed == 0
    history = training_history("small-synthetic")
    assert history.steps == list(range(0, recipe.ends()[-1] + 1, recipe.history_every))
    assert history.videos.shape[2:] == (16, 32, 32, 3)
    # an untrained G's videos are still; the shipped step's move, and its figures are the run's own
    assert history.figures[0]["still_share"] == 1 and history.figures[-1]["still_share"] < 0.1
