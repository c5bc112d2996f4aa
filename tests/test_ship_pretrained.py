"""Shipping a model (research/ship_pretrained.py): a run that went on from a shipped model keeps its record."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from research import ship_pretrained
from vgan_lib import pretrained
from vgan_lib.checkpoint import load_checkpoint, save_checkpoint, save_weights
from vgan_lib.model import build_models
from vgan_lib.train import GANTrainer, TrainConfig, init_from

from conftest import write_recipe


@pytest.fixture
def tool(tmp_path, monkeypatch, synthetic_dir):
    """The script's module, writing to a folder of its own and measuring on the small synthetic set."""
    module = ship_pretrained
    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped)
    monkeypatch.setattr(module, "PRETRAINED_DIR", shipped)
    monkeypatch.setattr(module, "N_CLIPS", 8)
    # never (re)generate the repository's data/synthetic from a test
    monkeypatch.setattr(module, "_data_list", lambda spec: synthetic_dir / "train.txt")
    return module


def _earlier_model(folder: Path, cfg) -> dict:
    """A shipped model "tiny" of 50 iterations, with the record a manifest keeps."""
    G, D = build_models(cfg, seed=0)
    save_weights(folder / "tiny.pt", G, D)
    info = {"name": "tiny", "file": "tiny.pt", "sha256": pretrained.sha256_of(folder / "tiny.pt"),
            "commands": ["vgan make-data", "vgan train ... --iterations 50"], "iterations": 50,
            "wall_seconds": 10.0, "history": [{"step": 50, "lr": 2e-4, "mask_lambda": 0.1}],
            "quality": {"motion_ratio": 3.0, "moving_ratio": 2.0, "generated": {"still_share": 0.5}}}
    (folder / "tiny.json").write_text(json.dumps(info))
    return info


def _continued_run(path: Path, cfg, weights: Path) -> GANTrainer:
    """Two steps of ``vgan train --init weights``, saved as a training checkpoint."""
    G, D = build_models(cfg, seed=1)
    tcfg = TrainConfig(batch_size=4, device="cpu", precision="fp32", channels_last=False, extras={"flicker": 3.0})
    trainer = init_from(GANTrainer(G, D, tcfg), weights)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        trainer.step(torch.rand(4, 3, *cfg.video_shape[1:], generator=gen) * 2 - 1)
    save_checkpoint(path, trainer.state_dict(), trainer.G.cfg)
    return trainer


def _ship(tool, synthetic_dir, checkpoint, *more):
    return tool.main(["--checkpoint", str(checkpoint), "--name", "tiny", "--generator", "G",
                      "--data", str(synthetic_dir / "train.txt"), "--command", "vgan train ... --init tiny.pt",
                      "--wall-seconds", "5", *more])


def test_a_continued_run_keeps_the_earlier_record_and_can_keep_its_discriminator(tool, tmp_path, synthetic_dir,
                                                                                  tiny_cfg):
    folder = tool.PRETRAINED_DIR
    before = _earlier_model(folder, tiny_cfg)
    _, D_before = pretrained.load_pretrained("tiny")
    trainer = _continued_run(tmp_path / "run.pt", tiny_cfg, folder / "tiny.pt")

    assert _ship(tool, synthetic_dir, tmp_path / "run.pt", "--continues", "tiny", "--keep-discriminator") == 0
    info = pretrained.manifest("tiny")
    assert info["commands"] == [*before["commands"], "vgan train ... --init tiny.pt"]
    assert info["iterations"] == 52 and info["wall_seconds"] == 15.0
    assert info["continues"] == {"name": "tiny", "sha256": before["sha256"], "iterations": 50,
                                 "quality": {"motion_ratio": 3.0, "moving_ratio": 2.0, "still_share": 0.5}}
    assert before["sha256"] in info["discriminator"]
    # the earlier history first; the new checkpoint's step counts on from the earlier iterations
    assert info["history"][0] == before["history"][0]
    assert info["history"][-1]["step"] == 52 and info["history"][-1]["flicker"] == 3.0
    G, D = pretrained.load_pretrained("tiny")   # the new file, by its new sha256
    assert info["sha256"] != before["sha256"]
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), D_before.state_dict().values()))
    assert all(torch.equal(a, b.cpu()) for a, b in zip(G.state_dict().values(), trainer.G.state_dict().values()))


def test_without_keep_discriminator_the_run_s_own_d_is_shipped(tool, tmp_path, synthetic_dir, tiny_cfg):
    _earlier_model(tool.PRETRAINED_DIR, tiny_cfg)
    _continued_run(tmp_path / "run.pt", tiny_cfg, tool.PRETRAINED_DIR / "tiny.pt")
    assert _ship(tool, synthetic_dir, tmp_path / "run.pt", "--continues", "tiny") == 0
    _, D = pretrained.load_pretrained("tiny")
    trained = load_checkpoint(tmp_path / "run.pt")["D"]
    assert all(torch.equal(a, trained[k]) for k, a in D.state_dict().items())
    assert pretrained.manifest("tiny")["discriminator"] == "D as trained with G"


def test_keeping_a_discriminator_needs_the_model_it_comes_from(tool, tmp_path, synthetic_dir, capsys):
    with pytest.raises(SystemExit) as stop:
        _ship(tool, synthetic_dir, tmp_path / "run.pt", "--keep-discriminator")
    assert stop.value.code == 2
    assert "--keep-discriminator needs --continues NAME" in capsys.readouterr().err


def test_a_recipe_run_ships_with_its_recipe_threads_and_the_history_it_kept(tool, tmp_path, synthetic_dir):
    from vgan_lib.history import load_history, training_history
    from vgan_lib.recipe import run_recipe

    recipe_file = tmp_path / "tiny.toml"
    head = "threads = 1\nhistory_every = 2\n"
    recipe = write_recipe(recipe_file, synthetic_dir / "train.txt", [(3, "")], head=head)
    run_recipe(recipe, tmp_path / "run", progress=False, log=lambda *_: None)
    shutil.copyfile(tmp_path / "run" / "checkpoint.pt", tmp_path / "step_3.pt")
    # the run went on past the step shipped: its later snapshots stay behind
    run_recipe(write_recipe(tmp_path / "longer.toml", synthetic_dir / "train.txt", [(5, "")], head=head),
               tmp_path / "run", resume_run=True, progress=False, log=lambda *_: None)
    assert tool.main(["--checkpoint", str(tmp_path / "step_3.pt"), "--name", "tiny", "--generator", "G",
                      "--data", str(synthetic_dir / "train.txt"), "--command", f"vgan train --recipe {recipe_file}",
                      "--wall-seconds", "5", "--recipe", str(recipe_file),
                      "--training-history", str(tmp_path / "run" / "history")]) == 0
    info = pretrained.manifest("tiny")
    assert info["recipe"] == str(recipe_file) and info["threads"] == 1 and info["iterations"] == 3
    assert info["train_config"]["precision"] == "fp32"
    history = training_history("tiny")
    assert history.steps == [0, 2, 3] and history.videos.shape[:2] == (3, 8)
    assert load_history(tmp_path / "run" / "history").steps == [0, 2, 3, 4, 5]
