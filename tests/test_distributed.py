"""Training on several processes (DDP over gloo on the CPU): the ranks share the work and stay identical,
rank 0 alone writes, and a run stopped and resumed ends where the whole run does, bit for bit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vgan_lib.checkpoint import load_checkpoint
from vgan_lib.data import GolfClips
from vgan_lib.model import VideoGANConfig, build_models
from vgan_lib.train import GANTrainer, TrainConfig, fit, resume

ROOT = Path(__file__).resolve().parent.parent
CFG = VideoGANConfig(frames=16, size=16, z_dim=8, width=4)
TRAIN = TrainConfig(batch_size=4, device="cpu", precision="fp32", channels_last=False, seed=3)


def _train(rank, world, list_file, steps, out, resume_from, init_file):
    """One rank (or a lone process when world is 1): train to ``steps``, save its own weights as rank{r}.pt."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    trainer = GANTrainer(*build_models(CFG, seed=TRAIN.seed), TRAIN)
    if resume_from:
        resume(trainer, resume_from)
    fit(trainer, GolfClips(list_file, frames=16, size=16), steps, progress=False, out_dir=out)
    # the parameters: BatchNorm's running statistics are each rank's own
    weights = {net: {k: p.detach() for k, p in getattr(trainer, net).named_parameters()} for net in "GD"}
    torch.save({**weights, "opt_G": trainer.opt_G.state_dict()}, Path(out) / f"rank{rank}.pt")
    if world > 1:
        dist.destroy_process_group()


def run(tmp_path, name, world, list_file, steps, resume_from=None):
    out = tmp_path / name
    out.mkdir()
    args = (world, str(list_file), steps, str(out), resume_from, str(tmp_path / f"{name}.init"))
    if world == 1:
        _train(0, *args)
    else:
        mp.spawn(_train, args=args, nprocs=world)
    return out, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(world)]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.values(), b.values())) and a.keys() == b.keys()


@pytest.mark.slow
def test_two_ranks_share_the_work_stay_identical_write_once_and_resume_exactly(tmp_path, synthetic_dir):
    lst = synthetic_dir / "train.txt"
    out, (r0, r1) = run(tmp_path, "whole", 2, lst, 4)
    assert same(r0["G"], r1["G"]) and same(r0["D"], r1["D"])
    # the ranks really shared the work: one process alone, on its own batches, ends elsewhere
    _, (alone,) = run(tmp_path, "alone", 1, lst, 4)
    assert not same(alone["G"], r0["G"])
    assert sorted(p.name for p in out.glob("*.pt")) == ["checkpoint.pt", "rank0.pt", "rank1.pt"]
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 4 and len(state["z_gen"]) == 2
    assert not torch.equal(*state["z_gen"])   # each rank its own latents

    half, _ = run(tmp_path, "half", 2, lst, 2)
    _, (s0, s1) = run(tmp_path, "resumed", 2, lst, 4, resume_from=str(half / "checkpoint.pt"))
    for resumed in (s0, s1):
        assert same(resumed["G"], r0["G"]) and same(resumed["D"], r0["D"])
        assert all(torch.equal(a["exp_avg"], b["exp_avg"])
                   for a, b in zip(resumed["opt_G"]["state"].values(), r0["opt_G"]["state"].values()))


@pytest.mark.slow
def test_torchrun_trains_on_two_cpu_processes_and_says_so(tmp_path, synthetic_dir):
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "vgan_lib", "train",
                        "--data", str(synthetic_dir / "train.txt"), "--frames", "16", "--size", "16", "--width", "4",
                        "--batch-size", "4", "--iterations", "2", "--workers", "0", "--no-progress",
                        "--precision", "fp32", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 process(es), batch 4 each, 8 in all" in r.stdout
    assert r.stdout.count("done:") == 1   # rank 0 alone reports
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2


@pytest.mark.slow
def test_a_recipe_on_two_processes_stopped_between_phases_resumes_exactly(tmp_path, synthetic_dir):
    torchrun = Path(sys.executable).parent / "torchrun"
    head = (f'[model]\npreset = "small"\nframes = 16\nsize = 16\nwidth = 4\nz_dim = 8\n[data]\nlist = '
            f'"{synthetic_dir / "train.txt"}"\n[train]\nbatch_size = 4\nprecision = "fp32"\nchannels_last = false\n'
            f'[[phase]]\nsteps = 2\n')
    (tmp_path / "first.toml").write_text(head)
    (tmp_path / "both.toml").write_text(head + "[[phase]]\nsteps = 2\nlr = 1e-4\nnew_optimisers = true\n")

    def train(recipe, out, *more):
        r = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "vgan_lib", "train",
                            "--recipe", str(tmp_path / recipe), "--out", str(tmp_path / out), "--workers", "0",
                            "--no-progress", *more], capture_output=True, text=True, cwd=ROOT, timeout=600,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr[-2000:]

    train("both.toml", "straight")
    train("first.toml", "stopped")
    train("both.toml", "stopped", "--resume")
    a, b = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "stopped"))
    assert a["step"] == b["step"] == 4
    assert same(a["G"], b["G"]) and same(a["D"], b["D"]) and a["train_config"]["lr"] == 1e-4
