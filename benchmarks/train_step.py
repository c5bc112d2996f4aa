#!/usr/bin/env python
"""Speed of one VideoGAN training iteration: the kit's default step against a naive one, side by side.

    python benchmarks/train_step.py                          # both presets, every mode, 3 rounds
    python benchmarks/train_step.py --presets paper --batch 16 --rounds 5 --ddp

The naive step is written here as the common PyTorch port writes it: G runs on the latents
once for the D step and again for the G step, D's weights get gradients in the G step too,
fp32, contiguous tensors (G twice, D three times an iteration). The kit's step (``GANTrainer``)
runs G once and D on the fakes once. Each round times every mode in turn for ``--seconds``, so
all of them meet the same machine load; the table gives the median over the rounds, the ratio
to the naive step, and the achieved GFLOP/s as a share of this CPU's measured convolution
ceiling (Conv3d forward + backward, channels_last_3d, at the network's own layer sizes).
FLOPs are counted by torch's FlopCounterMode on a real step. ``--compile`` adds torch.compile;
``--ddp`` times one process with all threads against two gloo processes with half each;
``--allocators`` times the default step in child processes with glibc's allocator and with
jemalloc preloaded (as ``vgan train`` does where it is installed), alternating.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vgan_lib.data import GolfClips
from vgan_lib.device import native_bf16, pick_precision
from vgan_lib.model import build_models, get_config
from vgan_lib.train import GANTrainer, TrainConfig, d_loss, g_loss

MODES = {  # name -> TrainConfig settings; "naive" is the step written below
    "naive": None,
    "fp32": dict(precision="fp32", channels_last=False),
    "fp32+cl3d": dict(precision="fp32", channels_last=True),
    "bf16+cl3d": dict(precision="bf16", channels_last=True),
    "default": dict(precision="auto", channels_last=True),
}


class NaiveStep:
    """The common port's iteration: fresh fakes for the G step, D not frozen, fp32, contiguous."""

    def __init__(self, G, D, lr=2e-4, mask_lambda=0.1):
        self.G, self.D, self.mask_lambda = G, D, mask_lambda
        self.opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))

    def step(self, real):
        z = torch.randn(real.shape[0], self.G.cfg.z_dim)
        fake = self.G(z)
        loss_d = d_loss(self.D(real), self.D(fake.detach()))
        self.opt_D.zero_grad()
        loss_d.backward()
        self.opt_D.step()
        streams = self.G(z, return_streams=True)             # G a second time
        loss = g_loss(self.D(streams.video)) + self.mask_lambda * streams.mask.abs().mean()
        self.opt_G.zero_grad()
        loss.backward()                                      # D's weights get gradients too
        self.opt_G.step()


def make_step(preset: str, mode: str, batch: int, device: str, compile_step: bool):
    G, D = build_models(get_config(preset))
    if MODES[mode] is None:
        runner = NaiveStep(G.to(device), D.to(device))
    else:
        runner = GANTrainer(G, D, TrainConfig(batch_size=batch, device=device, **MODES[mode]))
    step = torch.compile(runner.step) if compile_step else runner.step
    fmt = torch.channels_last_3d if MODES[mode] and MODES[mode]["channels_last"] else torch.contiguous_format
    real = (torch.rand(batch, *get_config(preset).video_shape) * 2 - 1).to(device).contiguous(memory_format=fmt)
    return step, real


def flops_per_video(preset: str, mode: str) -> float:
    step, real = make_step(preset, mode, 2, "cpu", False)
    with FlopCounterMode(display=False) as counter:
        step(real)
    return counter.get_total_flops() / 2


def conv_ceiling(preset: str, batch: int, seconds: float) -> float:
    """The best GFLOP/s of Conv3d forward + backward over D's stride-2 layers (the bulk of a step's
    work) at this batch, channels_last_3d, fp32: what this CPU's convolutions reach at these sizes."""
    cfg, best = get_config(preset), 0.0
    for k in range(3):   # D's 2nd, 3rd and 4th layers: width * 2^k -> width * 2^(k+1) channels
        c, t, s = cfg.width << k, cfg.frames >> (k + 1), cfg.size >> (k + 1)
        x = torch.randn(batch, c, t, s, s).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
        w = torch.randn(2 * c, c, 4, 4, 4).contiguous(memory_format=torch.channels_last_3d).requires_grad_()

        def once():
            F.conv3d(x, w, stride=2, padding=1).sum().backward()

        with FlopCounterMode(display=False) as counter:
            once()
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < seconds / 3:
            once()
            n += 1
        best = max(best, counter.get_total_flops() * n / (time.perf_counter() - t0) / 1e9)
    return best


def videos_per_second(step, real, seconds: float, device: str) -> float:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < seconds:
        step(real)
        n += 1
    sync()
    return real.shape[0] * n / (time.perf_counter() - t0)


def _ddp_rank(rank, world, preset, batch, seconds, init, out):
    import torch.distributed as dist

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // world))
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    step, real = make_step(preset, "fp32+cl3d", batch // world, "cpu", False)
    step(real)
    dist.barrier()
    vps = videos_per_second(step, real, seconds, "cpu") * world
    if rank == 0:
        Path(out).write_text(str(vps))
    dist.destroy_process_group()


def ddp_rows(preset: str, batch: int, seconds: float) -> None:
    import torch.multiprocessing as mp

    print(f"\nDDP on the CPU, {preset}, global batch {batch}, fp32 + channels_last_3d (gloo):")
    with tempfile.TemporaryDirectory() as tmp:
        for world in (1, 2):
            out = Path(tmp) / f"vps{world}"
            mp.spawn(_ddp_rank, args=(world, preset, batch, seconds, f"{tmp}/init{world}", str(out)), nprocs=world)
            print(f"  {world} process(es): {float(out.read_text()):.2f} videos/s")


def allocator_rows(preset: str, batch: int, seconds: float, rounds: int) -> None:
    import ctypes.util
    import subprocess
    import sys

    lib = ctypes.util.find_library("jemalloc")
    if not lib:
        print("\nallocators: jemalloc is not installed (Debian: apt-get install libjemalloc2)")
        return
    code = (f"import sys; sys.argv = ['x']; from benchmarks.train_step import make_step, videos_per_second; "
            f"s, r = make_step({preset!r}, 'default', {batch}, 'cpu', False); s(r); s(r); "
            f"print(videos_per_second(s, r, {seconds}, 'cpu'))")
    found = {"glibc": [], lib: []}
    for _ in range(rounds):
        for name in found:
            env = {**os.environ, **({"LD_PRELOAD": lib} if name == lib else {})}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            found[name].append(float(out.stdout.split()[-1]))
    glibc = statistics.median(found["glibc"])
    print(f"\nallocators, {preset} default step, batch {batch}, {rounds} rounds (child processes):")
    for name, vps in found.items():
        print(f"  {name:<18} {statistics.median(vps):8.2f} videos/s  x{statistics.median(vps) / glibc:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: 32 small, 16 paper)")
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per mode and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every mode in turn; the median is reported")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true", help="also time the default step under torch.compile")
    ap.add_argument("--ddp", action="store_true", help="also time 1 against 2 gloo processes on the CPU")
    ap.add_argument("--allocators", action="store_true", help="also time glibc's allocator against jemalloc")
    ap.add_argument("--data", default="data/synthetic/train.txt", help="golf list file for the loader rows")
    args = ap.parse_args(argv)

    bf16 = native_bf16()
    print(f"torch {torch.__version__} | {platform.processor() or platform.machine()} | CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()} | native bf16 {bf16} | threads {torch.get_num_threads()} | "
          f"cores {os.cpu_count()} | device {args.device} | auto precision here: "
          f"{pick_precision('auto', torch.device(args.device))}")
    for preset in args.presets:
        batch = args.batch or (32 if preset == "small" else 16)
        modes = [m for m in args.modes if not (m == "bf16+cl3d" and args.device == "cpu" and not bf16)]
        steps = {m: make_step(preset, m, batch, args.device, False) for m in modes}
        if args.compile:
            steps["default+compile"] = make_step(preset, "default", batch, args.device, True)
        for step, real in steps.values():   # warm-up: kernel choice, allocator, compilation
            step(real)
            step(real)
        times = {m: [] for m in steps}
        for _ in range(args.rounds):
            for m, (step, real) in steps.items():
                times[m].append(videos_per_second(step, real, args.seconds, args.device))
        ceiling = conv_ceiling(preset, batch, args.seconds) if args.device == "cpu" else float("nan")
        print(f"\n{preset}, batch {batch}, {args.rounds} rounds of {args.seconds:g} s; conv ceiling "
              f"{ceiling:.0f} GFLOP/s (fp32, channels_last_3d)")
        print(f"{'mode':<16} {'videos/s':>9} {'x naive':>8} {'GFLOP/video':>12} {'GFLOP/s':>8} {'of ceiling':>10}")
        base = statistics.median(times["naive"]) if "naive" in times else float("nan")
        for m, ts in times.items():
            vps, gflop = statistics.median(ts), flops_per_video(preset, m.split("+compile")[0]) / 1e9
            print(f"{m:<16} {vps:>9.2f} {vps / base:>8.2f} {gflop:>12.2f} {vps * gflop:>8.1f} "
                  f"{vps * gflop / ceiling:>10.0%}", flush=True)
        if args.ddp:
            ddp_rows(preset, batch, args.seconds)
        if args.allocators:
            allocator_rows(preset, batch, args.seconds, args.rounds)

    list_file = Path(args.data)
    if list_file.is_file():
        print(f"\n{'loader':<7} {'clip':<12} {'clips/s':>9}")
        for preset in args.presets:
            cfg = get_config(preset)
            loader = iter(torch.utils.data.DataLoader(GolfClips(list_file, frames=cfg.frames, size=cfg.size),
                                                      batch_size=64, shuffle=True))
            next(loader)
            t0 = time.perf_counter()
            for _ in range(10):
                next(loader)
            print(f"{preset:<7} {f'{cfg.frames}x{cfg.size}x{cfg.size}':<12} {640 / (time.perf_counter() - t0):>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
