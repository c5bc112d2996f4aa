#!/usr/bin/env python
"""Speed of one VideoGAN training iteration: the kit's default step against a naive one, side by side.

    python benchmarks/train_step.py                          # both presets, every mode, 3 rounds
    python benchmarks/train_step.py --presets paper --batch 16 --rounds 5 --ddp

The naive step is written here as the common PyTorch port writes it: G runs on the latents
once for the D step and again for the G step, D's weights get gradients in the G step too,
fp32, contiguous tensors, G's two heads as two convolutions (G twice, D three times an iteration).
The kit's step (``GANTrainer``) runs G once, its heads as one convolution, and D on the fakes once;
"default, 2 heads" is the kit's step with the heads apart, to show what the fused heads save.
Each round times every mode in turn for ``--seconds``, so all of them meet the same machine load;
the table gives the median over the rounds, the ratio to the naive step, and the achieved GFLOP/s
as a share of the network's conv ceiling: every convolution of G and D at the shapes of one step,
forward + backward, fp32, channels_last_3d, run alone back to back (the best single D layer is
printed beside it, for what this CPU's convolutions reach at their best at these sizes).
FLOPs are counted by torch's FlopCounterMode on a real step. ``--compile`` adds torch.compile;
``--ddp`` times one process with all threads against two gloo processes with half each;
``--allocators`` times the default step in child processes with glibc's allocator and with
jemalloc preloaded (as ``vgan train`` does where it is installed), alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vgan_lib.data import GolfClips
from vgan_lib.device import cpu_kind, native_bf16, pick_precision
from vgan_lib.model import Streams, build_models, get_config
from vgan_lib.train import GANTrainer, TrainConfig, d_loss, g_loss

MODES = {  # name -> TrainConfig settings; "naive" is the step written below
    "naive": None,
    "fp32": dict(precision="fp32", channels_last=False),
    "fp32+cl3d": dict(precision="fp32", channels_last=True),
    "bf16+cl3d": dict(precision="bf16", channels_last=True),
    "default": dict(precision="auto", channels_last=True),
    "default, 2 heads": dict(precision="auto", channels_last=True),   # G's heads as two convolutions
}


def heads_apart(G):
    """Make G run its video and mask heads as two transposed convolutions, as the common port does
    (the kit runs them as one when gradients flow). Same weights, same outputs up to float rounding."""
    def forward(z, return_streams=False):
        B = z.shape[0]
        h = G.foreground(z.view(B, -1, 1, 1, 1))
        f, m, b = G.video_head(h), G.mask_head(h), G.background(z.view(B, -1, 1, 1))
        video = m * f + (1 - m) * b.unsqueeze(2)
        return Streams(video, f, b, m) if return_streams else video
    G.forward = forward
    return G


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
    if MODES[mode] is None or "2 heads" in mode:
        heads_apart(G)
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


def conv_ceiling(preset: str, batch: int, reps: int = 5) -> dict:
    """GFLOP/s of convolutions alone, forward + backward, fp32. ``network``: every convolution of G and D at
    the shapes one training step gives it, each in the faster of contiguous and channels_last memory (total
    FLOPs over the sum of the best times: what a step would reach if it did nothing but its convolutions).
    ``best layer``: the best of D's stride-2 layers, channels_last_3d (this CPU's convolutions at their best
    at these sizes)."""
    cfg = get_config(preset)
    G, D = build_models(cfg)
    calls = []   # (module, input shape) of every convolution in one G + D pass

    def record(mod, inp, _out):
        calls.append((mod, inp[0].shape))

    convs = [m for m in list(G.modules()) + list(D.modules()) if isinstance(m, nn.modules.conv._ConvNd)]
    handles = [m.register_forward_hook(record) for m in convs]
    with torch.no_grad():
        D(heads_apart(G)(torch.randn(batch, cfg.z_dim)))
    for h in handles:
        h.remove()
    functional = {nn.Conv3d: F.conv3d, nn.ConvTranspose3d: F.conv_transpose3d, nn.Conv2d: F.conv2d,
                  nn.ConvTranspose2d: F.conv_transpose2d}

    def best_time(mod, shape, fmt):
        x = torch.randn(shape).contiguous(memory_format=fmt).requires_grad_()
        w = mod.weight.detach().clone().contiguous(memory_format=fmt).requires_grad_()
        fn = functional[type(mod)]
        times = []
        for _ in range(reps + 1):   # the first call chooses kernels and is not counted
            t0 = time.perf_counter()
            fn(x, w, stride=mod.stride, padding=mod.padding).sum().backward()
            times.append(time.perf_counter() - t0)
        with FlopCounterMode(display=False) as counter:
            fn(x, w, stride=mod.stride, padding=mod.padding).sum().backward()
        return min(times[1:]), counter.get_total_flops()

    flops = total = best = 0.0
    for mod, shape in calls:
        last = torch.channels_last_3d if len(shape) == 5 else torch.channels_last
        (t_cl, f), (t_contig, _) = best_time(mod, shape, last), best_time(mod, shape, torch.contiguous_format)
        flops, total = flops + f, total + min(t_cl, t_contig)
        if mod in list(D.trunk)[1:] and mod.stride == (2, 2, 2):
            best = max(best, f / t_cl)
    return {"best layer": best / 1e9, "network": flops / total / 1e9}


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
    print(f"{cpu_kind()} | torch {torch.__version__} | threads {torch.get_num_threads()} | device {args.device} | "
          f"auto precision here: {pick_precision('auto', torch.device(args.device))}")
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
        ceilings = conv_ceiling(preset, batch) if args.device == "cpu" else {}
        ceiling = ceilings.get("network", float("nan"))
        print(f"\n{preset}, batch {batch}, {args.rounds} rounds of {args.seconds:g} s; conv ceiling (fp32, "
              f"forward + backward alone): "
              + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceilings.items()))
        print(f"{'mode':<18} {'videos/s':>9} {'x naive':>8} {'GFLOP/video':>12} {'GFLOP/s':>8} {'of network':>10}")
        base = statistics.median(times["naive"]) if "naive" in times else float("nan")
        for m, ts in times.items():
            vps, gflop = statistics.median(ts), flops_per_video(preset, m.split("+compile")[0]) / 1e9
            print(f"{m:<18} {vps:>9.2f} {vps / base:>8.2f} {gflop:>12.2f} {vps * gflop:>8.1f} "
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
