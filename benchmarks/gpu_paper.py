#!/usr/bin/env python
"""The paper's configuration on a GPU: speed, memory, precision, and what 100 epochs of golf would take.

    python benchmarks/gpu_paper.py                       # 300 iterations per precision, batch 64
    python benchmarks/gpu_paper.py --iterations 200 --json out/gpu_paper.json

Trains the original configuration (64x64 pixels, 32 frames, widths 512...64, batch 64) with the
kit's default step (``GANTrainer``: channels_last_3d, cudnn.benchmark) on random clips, first
in fp32 and then with ``--precision auto`` (bf16 autocast on GPUs that support it), and prints
videos per second after warm-up, peak GPU memory, the bf16/fp32 ratio and the projected time of
the paper's 100 epochs over the golf set's 603,776 clips. Needs a CUDA GPU; writes nothing else.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vgan_lib.model import build_models, get_config
from vgan_lib.train import GANTrainer, TrainConfig

GOLF_CLIPS, EPOCHS = 603_776, 100


def run(precision: str, batch: int, iterations: int, warmup: int) -> dict:
    cfg = get_config("paper")
    trainer = GANTrainer(*build_models(cfg), TrainConfig(batch_size=batch, device="cuda", precision=precision))
    real = (torch.rand(batch, *cfg.video_shape, device="cuda") * 2 - 1).contiguous(
        memory_format=torch.channels_last_3d)
    for _ in range(warmup):
        trainer.step(real)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(iterations):
        trainer.step(real)
    torch.cuda.synchronize()
    vps = batch * iterations / (time.perf_counter() - t0)
    return {"precision": trainer.precision, "videos_per_second": round(vps, 1),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "hours_for_100_epochs": round(GOLF_CLIPS * EPOCHS / vps / 3600, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_paper.py: error: no CUDA GPU here")
        return 2
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | CUDA {torch.version.cuda}")
    rows = [run(p, args.batch, args.iterations, args.warmup) for p in ("fp32", "auto")]
    for r in rows:
        print(f"{r['precision']:<5} {r['videos_per_second']:8.1f} videos/s  peak {r['peak_memory_gib']:6.2f} GiB  "
              f"100 epochs of golf: {r['hours_for_100_epochs']:.1f} h")
    result = {"gpu": torch.cuda.get_device_name(), "batch": args.batch, "iterations": args.iterations, "rows": rows,
              "speedup_auto_over_fp32": round(rows[1]["videos_per_second"] / rows[0]["videos_per_second"], 2)}
    print(f"auto / fp32: {result['speedup_auto_over_fp32']:.2f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
