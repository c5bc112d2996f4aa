"""Killed with SIGKILL again and again, at random moments and in the middle of checkpoint writes, a training run
resumed each time ends with exactly the weights and optimiser state of a run never stopped; every checkpoint on
disk loads at every moment, and no temporary file outlives the run."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vgan_lib.checkpoint import load_checkpoint
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

ROOT = Path(__file__).resolve().parent.parent
KILLS, STEPS, SEED = 10, 60, 15


def _train(data: Path, out: Path) -> subprocess.Popen:
    argv = ["train", "--data", str(data / "train.txt"), "--frames", "16", "--size", "16", "--z-dim", "8",
            "--width", "8", "--batch-size", "2", "--iterations", str(STEPS), "--workers", "0", "--no-progress",
            "--precision", "fp32", "--no-channels-last", "--device", "cpu", "--sample-every", "0",
            "--checkpoint-every", "1", "--out", str(out), "--resume"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: CPU results repeat exactly
    return subprocess.Popen([sys.executable, "-m", "vgan_lib", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _temps(out: Path) -> list:
    return [p for p in out.glob(".*") if p.name.endswith(".tmp")] if out.is_dir() else []


def _wait_for_writes(proc: subprocess.Popen, out: Path, writes: int, timeout: float = 60) -> bool:
    # poll the folder: a checkpoint write is under way while its temporary file exists
    seen, writing, end = 0, False, time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        now = bool(_temps(out))
        seen += now and not writing
        writing = now
        if seen >= writes:
            return True
    return False


def _state(path: Path) -> dict:
    state = load_checkpoint(path, training=True)
    return {f"{part}.{k}": v for part in ("G", "D") for k, v in state[part].items()} | {
        f"{part}.{i}.{k}": v for part in ("opt_G", "opt_D") for i, s in state[part]["state"].items()
        for k, v in s.items()} | {"step": torch.tensor(state["step"])}


@pytest.mark.slow
def test_training_killed_at_random_and_during_checkpoint_writes_resumes_bit_for_bit(tmp_path):
    data = tmp_path / "data"
    make_synthetic(data, SyntheticSpec(count=12, frames=16, size=16, seed=2), workers=1, progress=False)
    t0 = time.monotonic()
    straight = _train(data, tmp_path / "straight")
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()

    rng, out = random.Random(SEED), tmp_path / "killed"
    kills, during_writes, checkpoints_seen = 0, 0, set()
    while kills < KILLS:
        proc = _train(data, out)
        writes = rng.randint(0, 8)
        if writes and rng.random() < 0.6:  # in the middle of a checkpoint write
            _wait_for_writes(proc, out, writes)
        elif writes:  # at any moment of a training step or a write
            _wait_for_writes(proc, out, writes)
            time.sleep(rng.uniform(0, 0.05))
        else:  # while starting: importing, loading the data, resuming
            time.sleep(rng.uniform(0.1, 2.5))
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before kill {kills + 1}: make it longer")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        during_writes += bool(_temps(out))
        if (out / "checkpoint.pt").exists():  # the last whole checkpoint, never a torn one
            checkpoints_seen.add(int(load_checkpoint(out / "checkpoint.pt", training=True)["step"]))
    last = _train(data, out)
    assert last.wait(timeout=300) == 0, last.stderr.read().decode()
    seconds = time.monotonic() - t0

    print(f"\nsoak: {kills} kills, {during_writes} during checkpoint writes, checkpoints seen at steps "
          f"{sorted(checkpoints_seen)}, {seconds:.0f} s")
    assert during_writes >= 3 and len(checkpoints_seen) >= 3
    assert _temps(out) == []
    a, b = _state(tmp_path / "straight" / "checkpoint.pt"), _state(out / "checkpoint.pt")
    assert a.keys() == b.keys() and a["step"] == STEPS
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
