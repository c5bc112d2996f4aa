"""Checkpoints: complete, atomic, validated on load, and resume exactly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgan_lib import checkpoint
from vgan_lib.checkpoint import load_checkpoint, load_models, save_weights
from vgan_lib.data import GolfClips
from vgan_lib.errors import CheckpointError
from vgan_lib.model import VideoGANConfig, build_models
from vgan_lib.train import GANTrainer, TrainConfig, fit, init_from, resume, trainer_from_checkpoint


def save_checkpoint(path, trainer):
    return checkpoint.save_checkpoint(path, trainer.state_dict(), trainer.G.cfg)

ROOT = Path(__file__).resolve().parent.parent


def _trainer(cfg, seed=0):
    G, D = build_models(cfg, seed=seed)
    return GANTrainer(G, D, TrainConfig(batch_size=4, device="cpu", precision="fp32", channels_last=False, seed=seed))


def test_a_checkpoint_holds_everything_needed_to_resume(tmp_path, tiny_cfg):
    trainer = _trainer(tiny_cfg)
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    path = save_checkpoint(tmp_path / "ck.pt", trainer)
    state = load_checkpoint(path)
    for key in ("G", "D", "opt_G", "opt_D", "step", "model_config", "train_config", "z_gen", "torch_rng",
                "library_version", "history"):
        assert key in state, key
    assert state["step"] == 1 and state["model_config"] == tiny_cfg
    # plain tensors and Python values only: loads with weights_only=True
    torch.load(path, weights_only=True)


def test_saving_leaves_no_temporary_files_and_a_failed_save_keeps_the_old_file(tmp_path, tiny_cfg, monkeypatch):
    trainer = _trainer(tiny_cfg)
    path = save_checkpoint(tmp_path / "ck.pt", trainer)
    before = path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    with pytest.raises(CheckpointError, match="ck.pt.*No space left"):
        save_checkpoint(path, trainer)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_a_file_that_is_not_a_checkpoint_is_named_in_one_line(tmp_path):
    junk = tmp_path / "notes.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(junk)
    assert str(junk) in str(err.value) and "not a vgan_lib GAN checkpoint" in str(err.value)
    assert "\n" not in str(err.value)

    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not a vgan_lib GAN checkpoint"):
        load_checkpoint(foreign)

    with pytest.raises(CheckpointError, match="missing.pt: no such GAN checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_one_format_check_tells_a_classifier_file_from_a_gan_checkpoint(tmp_path, tiny_cfg):
    gan = save_checkpoint(tmp_path / "gan.pt", _trainer(tiny_cfg))
    with pytest.raises(CheckpointError, match="gan.pt: is a vgan_lib GAN checkpoint, not a classifier"):
        checkpoint.read_file(gan, "vgan_lib.classifier")
    state = torch.load(gan, weights_only=True)
    state["format_version"] = 99
    torch.save(state, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="new.pt: GAN checkpoint format 99 is newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_a_checkpoint_from_another_config_is_refused_with_the_difference_named(tmp_path, tiny_cfg):
    path = save_checkpoint(tmp_path / "ck.pt", _trainer(tiny_cfg))
    other = _trainer(VideoGANConfig(frames=16, size=32, z_dim=8, width=4))
    with pytest.raises(CheckpointError, match=r"ck.pt: checkpoint config does not match.*size 16 vs 32"):
        resume(other, path)


def test_a_weights_file_loads_models_but_cannot_resume_training(tmp_path, tiny_cfg):
    trainer = _trainer(tiny_cfg)
    path = save_weights(tmp_path / "w.pt", trainer.G, trainer.D)
    G, D = load_models(path)
    assert not G.training and all(torch.equal(a, b) for a, b in zip(G.parameters(), trainer.G.parameters()))
    with pytest.raises(CheckpointError, match="weights only"):
        resume(_trainer(tiny_cfg), path)


def test_an_output_folder_that_cannot_be_written_is_named(tmp_path, tiny_cfg):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(CheckpointError, match="file/run: cannot create the output folder"):
        save_checkpoint(blocker / "run" / "ck.pt", _trainer(tiny_cfg))
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(CheckpointError, match="ro: output folder is not writable"):
            save_checkpoint(ro / "ck.pt", _trainer(tiny_cfg))


RESUME_SCRIPT = """
import json, sys, torch
torch.set_num_threads(1)
from vgan_lib.data import GolfClips
from vgan_lib.train import fit, trainer_from_checkpoint
ckpt, list_file, steps, out = sys.argv[1:]
trainer = trainer_from_checkpoint(ckpt)
data = GolfClips(list_file, frames=16, size=16)
fit(trainer, data, int(steps), progress=False, out_dir=out)
json.dump(trainer.history, open(out + "/history.json", "w"))
"""


@pytest.mark.slow
def test_training_n_steps_equals_n_half_then_save_load_in_a_new_process_and_n_half_more(
        tmp_path, tiny_cfg, synthetic_dir):
    data = GolfClips(synthetic_dir / "train.txt", frames=16, size=16)
    n = 6
    straight = _trainer(tiny_cfg, seed=2)
    fit(straight, data, n, progress=False)

    first = _trainer(tiny_cfg, seed=2)
    fit(first, data, n // 2, progress=False, out_dir=tmp_path / "half")
    out = tmp_path / "resumed"
    out.mkdir()
    subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "half" / "checkpoint.pt"),
                    str(synthetic_dir / "train.txt"), str(n), str(out)], check=True, cwd=ROOT)

    resumed_history = json.loads((out / "history.json").read_text())
    assert resumed_history == straight.history  # the same losses, bit for bit
    G, D = load_models(out / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), straight.G.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), straight.D.state_dict().values()))
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == n
    resumed = trainer_from_checkpoint(out / "checkpoint.pt")
    assert torch.equal(resumed.sample_z(3), straight.sample_z(3))


def test_a_run_resumed_with_another_learning_rate_trains_at_the_new_rate(tmp_path, tiny_cfg):
    trainer = _trainer(tiny_cfg)
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    path = save_checkpoint(tmp_path / "ck.pt", trainer)
    G, D = build_models(tiny_cfg)
    slower = resume(GANTrainer(G, D, TrainConfig(batch_size=4, device="cpu", precision="fp32", channels_last=False,
                                                 lr=5e-5)), path)
    assert [g["lr"] for opt in (slower.opt_G, slower.opt_D) for g in opt.param_groups] == [5e-5, 5e-5]
    # Adam's moments carry over: only the rate changed
    moments = [opt.state_dict()["state"][0]["exp_avg"] for opt in (slower.opt_G, trainer.opt_G)]
    assert torch.equal(*moments)


def test_a_run_can_start_from_a_weights_file_with_new_optimisers_at_step_0(tmp_path, tiny_cfg):
    trained = _trainer(tiny_cfg, seed=1)
    trained.step(torch.rand(4, 3, 16, 16, 16))
    path = save_weights(tmp_path / "w.pt", trained.G, trained.D)
    G, D = build_models(tiny_cfg)
    fresh = init_from(GANTrainer(G, D, TrainConfig(batch_size=4, device="cpu", precision="fp32",
                                                    channels_last=False)), path)
    for a, b in ((fresh.G, trained.G), (fresh.D, trained.D)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert fresh.step_count == 0 and not fresh.opt_G.state and not fresh.opt_D.state
    with pytest.raises(CheckpointError, match=r"w.pt: checkpoint config does not match.*size 16 vs 32"):
        init_from(_trainer(VideoGANConfig(frames=16, size=32, z_dim=8, width=4)), path)


def test_weights_that_do_not_fit_the_networks_are_refused_in_one_line(tmp_path, tiny_cfg):
    trainer = _trainer(tiny_cfg)
    state = torch.load(save_weights(tmp_path / "w.pt", trainer.G, trainer.D), weights_only=True)
    del state["D"]
    torch.save(state, tmp_path / "no_d.pt")
    state["D"] = {k: v for k, v in trainer.D.state_dict().items() if not k.startswith("head")}
    torch.save(state, tmp_path / "no_head.pt")
    for name, missing in (("no_d.pt", "'D'"), ("no_head.pt", "head.weight")):
        for load in (load_models, lambda p: init_from(_trainer(tiny_cfg), p)):
            with pytest.raises(CheckpointError, match=rf"{name}: weights do not fit the model \(.*{missing}"):
                load(tmp_path / name)
