"""Train the factor classifier behind the learned figures and ship it, or check the shipped one.

Run from the repository root:

    python -m research.train_factor_net            # writes vgan_lib/weights/metric/factor-net.pt and .json
    python -m research.train_factor_net --check    # the shipped file's held-out accuracy, against its manifest

The classifier learns the objects of a clip (ball or box, sliding, falling or circling; one or two of them) from
synthetic clips of data seed 1, and is tested on clips of data seed 2. The real clips the learned figures compare
against are of data seed 0 (the GAN's training set), so the classifier has seen none of them, nor any clip it is
tested on. Clip i of a seed is the same whatever the count (vgan_lib.synthetic), so the sets are made again exactly.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vgan_lib import __version__
from vgan_lib.files import write_text_atomic
from vgan_lib.learned_metric import (CLASSES, SHIPPED, accuracy, factor_clips, load_factor_net, save_factor_net,
                                     train_factor_net)
from vgan_lib.pretrained import manifest, sha256_of
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

ROOT = Path(__file__).resolve().parent.parent
OUT = SHIPPED


def _set(name: str, count: int, seed: int) -> Path:
    """The folder of a synthetic set, made if it is not on disk (under data/, which git ignores)."""
    spec = SyntheticSpec(count=count, seed=seed)
    return make_synthetic(ROOT / "data" / f"synthetic_factors_{name}_{count}", spec).parent


def _cpu() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def ship(args, argv) -> int:
    torch.set_num_threads(args.threads)
    train, held = _set("train", args.count, 1), _set("held", args.held_out, 2)
    start = time.time()
    net, _ = train_factor_net(train, held, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              width=args.width, seed=args.seed)
    wall = time.time() - start
    out = Path(args.out)
    save_factor_net(out, net.half())    # fp16 halves the file; the accuracy below is the saved network's
    net = load_factor_net(out)
    clips, labels = factor_clips(held)
    majority = torch.bincount(labels, minlength=len(CLASSES)).max().item() / len(labels)
    info = {
        "name": "factor-net", "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
        "command": f"OMP_NUM_THREADS={args.threads} python -m research.train_factor_net {' '.join(argv)}".rstrip(),
        "parameters": sum(p.numel() for p in net.parameters()), "width": args.width,
        "classes": list(CLASSES), "input": "(B, 3, 16, 32, 32) in [-1, 1]; other sizes are resized trilinearly",
        "data": {"train": asdict(SyntheticSpec(count=args.count, seed=1)),
                 "held_out": asdict(SyntheticSpec(count=args.held_out, seed=2)),
                 "loading": "first 16 frames, resized bilinearly to 32x32 (vgan_lib.data.load_strip)"},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                     "optimiser": "Adam, one-cycle learning rate", "precision": "fp32 (weights stored as fp16)"},
        "held_out_accuracy": round(accuracy(net, clips, labels), 4), "held_out_majority_class": round(majority, 4),
        "wall_seconds": round(wall, 1), "threads": args.threads, "machine": _cpu(),
        "library_version": __version__, "torch_version": str(torch.__version__),
        "check": "python -m research.train_factor_net --check",
    }
    write_text_atomic(out.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: info[k] for k in ("held_out_accuracy", "held_out_majority_class", "wall_seconds",
                                           "bytes", "parameters")}, indent=2))
    return 0


def check() -> int:
    info = manifest("metric/factor-net")
    spec = info["data"]["held_out"]
    held = _set("held", spec["count"], spec["seed"])
    got = round(accuracy(load_factor_net(), *factor_clips(held)), 4)
    print(f"held-out accuracy {got} (manifest {info['held_out_accuracy']}; sha256 ok)")
    return 0 if abs(got - info["held_out_accuracy"]) <= 2 / spec["count"] else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="recompute the shipped file's held-out accuracy")
    ap.add_argument("--count", type=int, default=6000, help="training clips (data seed 1)")
    ap.add_argument("--held-out", type=int, default=512, help="held-out clips (data seed 2)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    return check() if args.check else ship(args, argv)


if __name__ == "__main__":
    sys.exit(main())
