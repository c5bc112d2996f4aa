#!/usr/bin/env python
"""Speed of one VideoGAN training iteration, and of the golf-format data loader.

    python benchmarks/train_step.py                     # both presets, fp32 and the fast paths
    python benchmarks/train_step.py --presets small --batch 32 --seconds 10

For each preset and mode it times ``GANTrainer.step`` (one D step + one G step) on
random clips after warm-up iterations, and reports videos per second and the
achieved GFLOP/s. The FLOPs per video are counted by torch's FlopCounterMode on a
real step (convolutions forward and backward, the bulk of the work), not estimated.
The loader rows time a DataLoader over the synthetic golf-format set
(``make-data``'s default) at each preset's clip size.

bf16 autocast only pays on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX);
elsewhere oneDNN emulates it and it is far slower than fp32. On such a CPU the bf16
row is measured for the small preset only (a paper-size step would take minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vgan_lib.data import GolfClips
from vgan_lib.model import build_models, get_config
from vgan_lib.train import GANTrainer, TrainConfig

MODES = {
    "fp32": dict(precision="fp32", channels_last=False),
    "fp32+cl3d": dict(precision="fp32", channels_last=True),
    "bf16+cl3d": dict(precision="bf16", channels_last=True),
}


def cpu_has_native_bf16() -> bool:
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def flops_per_video(preset: str) -> float:
    """FLOPs of one training iteration per video, counted on a real step at batch 2."""
    cfg = get_config(preset)
    G, D = build_models(cfg)
    trainer = GANTrainer(G, D, TrainConfig(batch_size=2, device="cpu"))
    real = torch.rand(2, *cfg.video_shape) * 2 - 1
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.step(real)
    return counter.get_total_flops() / 2


def time_step(preset: str, mode: str, batch: int, seconds: float, device: str) -> tuple:
    cfg = get_config(preset)
    G, D = build_models(cfg)
    trainer = GANTrainer(G, D, TrainConfig(batch_size=batch, device=device, **MODES[mode]))
    real = torch.rand(batch, *cfg.video_shape) * 2 - 1

    def sync():
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up: kernel selection, allocator
        trainer.step(real)
    sync()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < seconds:
        trainer.step(real)
        n += 1
    sync()
    dt = (time.perf_counter() - t0) / n
    return batch / dt, n


def time_loader(preset: str, list_file: Path, workers: int, batches: int, batch: int) -> float:
    cfg = get_config(preset)
    data = GolfClips(list_file, frames=cfg.frames, size=cfg.size)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # start-up of the workers is not throughput
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: 32 small, 8 paper)")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per row, at least 2 iterations")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default="data/synthetic/train.txt",
                    help="golf list file for the loader rows (made by `vgan make-data` if missing)")
    ap.add_argument("--loader-workers", nargs="+", type=int, default=[0, 2])
    args = ap.parse_args(argv)

    native_bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__} | {platform.processor() or platform.machine()} | "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()} | native bf16 {native_bf16} | "
          f"threads {torch.get_num_threads()} | cores {os.cpu_count()} | device {args.device}")
    print()
    print(f"{'preset':<7} {'mode':<10} {'batch':>5} {'iters':>5} {'videos/s':>9} {'GFLOP/video':>12} {'GFLOP/s':>8}")
    for preset in args.presets:
        gflop = flops_per_video(preset) / 1e9
        batch = args.batch or (32 if preset == "small" else 8)
        for mode in args.modes:
            if mode.startswith("bf16") and args.device == "cpu" and not native_bf16 and preset != "small":
                print(f"{preset:<7} {mode:<10} skipped: no native bf16 on this CPU (see the small row)")
                continue
            vps, n = time_step(preset, mode, batch, args.seconds, args.device)
            print(f"{preset:<7} {mode:<10} {batch:>5} {n:>5} {vps:>9.2f} {gflop:>12.2f} {vps * gflop:>8.1f}",
                  flush=True)

    list_file = Path(args.data)
    if not list_file.is_file():
        from vgan_lib.synthetic import make_synthetic
        list_file = make_synthetic(list_file.parent, progress=False)
    print()
    print(f"{'loader':<7} {'clip':<12} {'workers':>7} {'clips/s':>9}")
    for preset in args.presets:
        cfg = get_config(preset)
        for workers in args.loader_workers:
            cps = time_loader(preset, list_file, workers, batches=10, batch=64)
            print(f"{preset:<7} {f'{cfg.frames}x{cfg.size}x{cfg.size}':<12} {workers:>7} {cps:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
