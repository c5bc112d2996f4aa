"""Command line: ``python -m vgan_lib <command>`` or ``vgan <command>``.

    vgan make-data --out data/synthetic --count 2000
    vgan train --data data/synthetic/train.txt --preset small --iterations 2000 --out runs/small
    vgan sample --checkpoint runs/small/checkpoint.pt --out runs/small/samples

Every command has ``--help``. Problems with inputs end the program with one line,
``vgan: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser"]

PROG = "vgan"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from .model import PRESETS

    g = p.add_argument_group("model")
    g.add_argument("--preset", default="small", choices=sorted(PRESETS),
                   help="paper: 64x64x32, width 64 (the original); small: 32x32x16, width 32 (CPU). Default: small")
    g.add_argument("--frames", type=_positive_int, help="override the preset's frames per clip (multiple of 16)")
    g.add_argument("--size", type=_positive_int, help="override the preset's frame side in pixels (multiple of 16)")
    g.add_argument("--width", type=_positive_int, help="override the preset's base channel width")
    g.add_argument("--z-dim", type=_positive_int, help="override the latent size")
    g.add_argument("--generator", choices=["two_stream", "one_stream"], default="two_stream")


def _model_config(args):
    from .model import get_config

    overrides = {k: getattr(args, k) for k in ("frames", "size", "width", "z_dim") if getattr(args, k) is not None}
    return get_config(args.preset, generator=args.generator, **overrides)


def build_parser() -> argparse.ArgumentParser:
    from .device import PRECISIONS

    parser = _Parser(prog=PROG, description="VideoGAN teaching kit: data, training, sampling.")
    parser.add_argument("--version", action="store_true", help="print the library version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("make-data", help="write the synthetic data set in the golf format",
                       description="Write synthetic clips (moving objects over static textured scenes) as golf-format "
                                   "JPEG strips with a list file, train.txt.")
    p.add_argument("--out", default="data/synthetic", help="output folder (default: data/synthetic)")
    p.add_argument("--count", type=_positive_int, default=5000, help="number of clips (default: 5000)")
    p.add_argument("--frames", type=_positive_int, default=32, help="frames per clip (default: 32)")
    p.add_argument("--min-frames", type=_positive_int, help="if set, clip lengths vary from this to --frames")
    p.add_argument("--size", type=_positive_int, default=64, help="frame side in pixels (default: 64)")
    p.add_argument("--max-objects", type=_positive_int, default=2, help="moving objects per clip, at most (default: 2)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="data seed (default: 0)")
    p.add_argument("--workers", type=_positive_int, help="processes (default: all cores, at most 8)")
    p.add_argument("--force", action="store_true", help="rewrite even if the folder already holds this data")

    p = sub.add_parser("train", help="train a VideoGAN", description="Train G and D with the original recipe "
                       "(Adam 2e-4, beta1 0.5, one D step then one G step, mask L1 0.1).")
    p.add_argument("--data", default="data/synthetic/train.txt", help="golf-format list file (default: "
                   "data/synthetic/train.txt, made by make-data)")
    p.add_argument("--root", help="folder the listed paths are relative to (default: the list file's folder)")
    _add_model_args(p)
    t = p.add_argument_group("training")
    t.add_argument("--iterations", type=_positive_int, help="train until this many steps (default: 1 epoch)")
    t.add_argument("--epochs", type=_positive_float, help="train this many passes over the data instead")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="default: 64 (the original)")
    t.add_argument("--lr", type=_positive_float, default=2e-4)
    t.add_argument("--d-steps", type=_positive_int, default=1, help="discriminator steps per generator step")
    t.add_argument("--g-loss", choices=["non_saturating", "saturating"], default="non_saturating")
    t.add_argument("--mask-lambda", type=float, default=0.1, help="mask L1 weight (default: 0.1)")
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    t.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32, bf16 (CPU or GPU autocast) or fp16 (GPU)")
    t.add_argument("--channels-last", action="store_true", help="use the channels_last_3d memory layout")
    t.add_argument("--seed", type=_non_negative_int, default=0, help="seed for weights, latents and data order")
    t.add_argument("--workers", type=_non_negative_int, default=2, help="DataLoader worker processes (default: 2)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="runs/train", help="run folder: checkpoint.pt, samples/ (default: runs/train)")
    o.add_argument("--sample-every", type=_non_negative_int, default=500, help="steps between sample videos")
    o.add_argument("--checkpoint-every", type=_non_negative_int, default=500, help="steps between checkpoints")
    o.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("sample", help="generate videos from a checkpoint",
                       description="Draw videos from a trained generator and write them as video files: the "
                                   "composite and, for a two-stream model, its foreground, background and mask.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt from train, or a weights file")
    p.add_argument("--out", default="samples", help="output folder (default: samples)")
    p.add_argument("--n", type=_positive_int, default=16, help="number of videos (default: 16)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="latent seed (default: 0)")
    p.add_argument("--format", choices=["mp4", "gif"], default="mp4")
    p.add_argument("--fps", type=_positive_float, default=8.0)
    p.add_argument("--scale", type=_positive_int, default=3, help="nearest-neighbour enlargement (default: 3)")
    p.add_argument("--device", default="cpu")
    return parser


def _cmd_make_data(args) -> int:
    from .synthetic import SyntheticSpec, make_synthetic

    if args.min_frames is not None and args.min_frames > args.frames:
        raise _UsageError(f"--min-frames {args.min_frames} is larger than --frames {args.frames}")
    spec = SyntheticSpec(count=args.count, frames=args.frames, size=args.size, seed=args.seed,
                         max_objects=args.max_objects, min_frames=args.min_frames)
    list_file = make_synthetic(args.out, spec, workers=args.workers, overwrite=args.force)
    print(f"wrote {spec.count} clips; list file: {list_file}")
    return 0


def _cmd_train(args) -> int:
    import math

    import torch

    from .checkpoint import check_writable_dir, resume
    from .data import GolfClips
    from .model import build_models
    from .train import GANTrainer, TrainConfig, fit

    try:
        cfg = _model_config(args)
        tcfg = TrainConfig(batch_size=args.batch_size, lr=args.lr, mask_lambda=args.mask_lambda,
                           d_steps=args.d_steps, g_loss=args.g_loss, device=args.device, precision=args.precision,
                           channels_last=args.channels_last, seed=args.seed)
    except ValueError as e:
        raise _UsageError(str(e)) from None
    out = check_writable_dir(args.out)
    data = GolfClips(args.data, args.root, frames=cfg.frames, size=cfg.size)
    per_step = tcfg.batch_size * tcfg.d_steps
    if len(data) < tcfg.batch_size:
        raise _UsageError(f"{args.data} lists {len(data)} clips, fewer than one batch of {tcfg.batch_size}")
    if args.iterations and args.epochs:
        raise _UsageError("give --iterations or --epochs, not both")
    iterations = args.iterations or math.ceil((args.epochs or 1.0) * len(data) / per_step)

    G, D = build_models(cfg, seed=args.seed)
    trainer = GANTrainer(G, D, tcfg)
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.exists():
        resume(trainer, ckpt)
        print(f"resumed from {ckpt} at step {trainer.step_count}")
    elif ckpt.exists() and not args.resume:
        raise _UsageError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    print(f"model {cfg}; device {trainer.device}; {len(data)} clips; {iterations} iterations "
          f"of batch {tcfg.batch_size}")
    fixed_z = torch.randn(16, cfg.z_dim, generator=torch.Generator().manual_seed(args.seed + 1))
    result = fit(trainer, data, iterations, num_workers=args.workers, fixed_z=fixed_z,
                 sample_every=args.sample_every, checkpoint_every=args.checkpoint_every, out_dir=out,
                 progress=not args.no_progress)
    last = result.history[-1] if result.history else {}
    summary = {
        "step": trainer.step_count,
        "seconds": round(result.seconds, 1),
        "videos_per_second": round(result.videos_per_second, 2) if result.videos_per_second == result.videos_per_second else None,
        **{k: round(v, 4) for k, v in last.items() if k != "step"},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"done: {json.dumps(summary)}; checkpoint {ckpt}")
    return 0


def _cmd_sample(args) -> int:
    import torch

    from .checkpoint import check_writable_dir, load_models
    from .video import to_uint8, write_video_grid

    out = check_writable_dir(args.out)
    G, _ = load_models(args.checkpoint, device=args.device)
    z = torch.randn(args.n, G.cfg.z_dim, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        streams = G(z.to(args.device), return_streams=True)
    views = {"video": streams.video}
    if streams.mask is not None:
        views.update(foreground=streams.foreground, background=streams.background.unsqueeze(2),
                     mask=streams.mask)
    for name, tensor in views.items():
        frames = to_uint8(tensor)
        if name == "background":
            frames = frames.repeat(G.cfg.frames, axis=1)
        path = write_video_grid(out / f"{name}.{args.format}", frames, fps=args.fps, scale=args.scale)
        print(f"wrote {path}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .errors import VganError, one_line

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    commands = {"make-data": _cmd_make_data, "train": _cmd_train, "sample": _cmd_sample}
    try:
        return commands[args.command](args)
    except (VganError, _UsageError) as e:
        print(f"{PROG}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
