"""Command line: ``vgan <command>`` or ``python -m vgan_lib <command>``; every command has ``--help``.

Options come from the settings' dataclasses (``vgan_lib.options``). A problem with an input ends the program with one
line, ``vgan: error: ...``, and exit status 2."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Optional, Sequence

from .errors import UsageError
from .options import add_options, arg_type, checked, from_args, values_from

__all__ = ["main", "build_parser"]

PROG = "vgan"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message, in the kit's one format
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


_positive_int = arg_type(int, at_least=1)
_non_negative_int = arg_type(int, at_least=0)
_positive_float = arg_type(float, above=0)


def _add_model_options(parser) -> None:
    # ``--preset`` and an override for each field of ``VideoGANConfig`` (None: the preset's value).
    from dataclasses import fields

    from .model import PRESETS, VideoGANConfig

    g = parser.add_argument_group("model")
    g.add_argument("--preset", choices=sorted(PRESETS),
                   help="paper: 64x64x32, width 64 (the original); small: 32x32x16, width 32 (CPU). Default: small, "
                        "or with --init the model of that file")
    add_options(g, VideoGANConfig, defaults={f.name: None for f in fields(VideoGANConfig)})


def _model_config(args: argparse.Namespace, spec: bool = False):
    # The ``VideoGANConfig`` the model options ask for; with ``spec``, the preset and overrides as a dict.
    from .checkpoint import load_checkpoint
    from .model import VideoGANConfig, get_config

    overrides = {k: v for k, v in values_from(args, VideoGANConfig).items() if v is not None}
    if args.preset is None and getattr(args, "init", None):
        # started from a file and no preset named: the file's model, with any option given on top
        model = {"preset": "small", **load_checkpoint(args.init)["model_config"].to_dict(), **overrides}
    else:
        model = {"preset": args.preset or "small", **overrides}
    return model if spec else checked(get_config, **model)


def build_parser() -> argparse.ArgumentParser:
    from .prepare import PrepareSettings
    from .synthetic import SyntheticSpec
    from .train import TrainConfig

    parser = _Parser(prog=PROG, description="VideoGAN teaching kit: data, training, sampling.")
    quiet = argparse.ArgumentParser(add_help=False)  # the option every long-running command has
    quiet.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--version", action="store_true", help="print the library version and exit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("make-data", help="write the synthetic data set in the golf format", description="Write "
                       "synthetic clips (moving objects over still textured scenes) as golf strips and train.txt.")
    p.add_argument("--out", default="data/synthetic", help="output folder (default: data/synthetic)")
    add_options(p, SyntheticSpec)
    p.add_argument("--workers", type=_positive_int, help="processes (default: all cores, at most 8)")
    p.add_argument("--force", action="store_true", help="rewrite even if the folder already holds this data")

    p = sub.add_parser("train", parents=[quiet], help="train a VideoGAN", description="Train G and D with "
                       "Algorithm 1 (Adam 2e-4, beta1 0.5, a D step then a G step on the same fakes, mask L1 0.1).")
    p.add_argument("--recipe", metavar="FILE", help="run this recipe (model, data, phases); only the output "
                   "options below apply with it, e.g. recipes/small-synthetic.toml")
    p.add_argument("--data", default="data/synthetic/train.txt", help="golf-format list file (default: "
                   "data/synthetic/train.txt, made by make-data)")
    p.add_argument("--root", help="folder the listed paths are relative to (default: the list file's folder)")
    _add_model_options(p)
    t = p.add_argument_group("training")
    t.add_argument("--iterations", type=_positive_int, help="train until this many steps (default: 1 epoch)")
    t.add_argument("--epochs", type=_positive_float, help="train this many passes over the data instead")
    add_options(t, TrainConfig)
    t.add_argument("--extra", action="append", metavar="NAME=WEIGHT",
                   help="add a loss term the original lacks (vgan_lib.extras: blend, flicker); repeatable")
    t.add_argument("--init", metavar="PATH", help="start from the G and D weights of this file (e.g. a shipped model)"
                   " with new optimisers at step 0; with --resume, only when OUT/checkpoint.pt does not exist yet")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="runs/train", help="run folder: checkpoint.pt, samples/ (default: runs/train)")
    o.add_argument("--workers", type=_non_negative_int, default=2, help="DataLoader worker processes (default: 2)")
    o.add_argument("--sample-every", type=_non_negative_int, default=500, help="steps between sample videos")
    o.add_argument("--checkpoint-every", type=_non_negative_int, default=500, help="steps between checkpoints")
    o.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")

    p = sub.add_parser("sample", help="generate videos from a checkpoint", description="Write a generator's "
                       "videos: the composite and, for two streams, its foreground, background and mask.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint.pt from train, or a weights file")
    p.add_argument("--out", default="samples", help="output folder (default: samples)")
    p.add_argument("--n", type=_positive_int, default=16, help="number of videos (default: 16)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="latent seed (default: 0)")
    p.add_argument("--format", choices=["mp4", "gif"], default="mp4")
    p.add_argument("--fps", type=_positive_float, default=8.0)
    p.add_argument("--scale", type=_positive_int, default=3, help="nearest-neighbour enlargement (default: 3)")
    p.add_argument("--device", default="cpu")
    _add_action_parsers(sub, quiet)  # make-actions, finetune, evaluate (UCF-101 action recognition)

    p = sub.add_parser("prepare", parents=[quiet], help="turn videos into stabilised golf clips", description="Cut "
                       "videos at shot changes into clips, take the camera motion out, write golf strips + train.txt.")
    p.add_argument("videos", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files, or folders searched for them")
    p.add_argument("--out", required=True, help="output folder; then: vgan train --data OUT/train.txt --root OUT")
    add_options(p, PrepareSettings)
    p.add_argument("--workers", type=_positive_int, default=1, help="processes, one video each (default: 1)")
    return parser


def _cmd_prepare(args) -> int:
    from .prepare import PrepareSettings, prepare

    result = prepare(args.videos, args.out, from_args(PrepareSettings, args), args.workers, not args.no_progress)
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(result.summary())
    return 0


def _cmd_make_data(args) -> int:
    from .synthetic import SyntheticSpec, make_synthetic

    spec = from_args(SyntheticSpec, args)
    list_file = make_synthetic(args.out, spec, workers=args.workers, overwrite=args.force)
    print(f"wrote {spec.count} clips; list file: {list_file}")
    return 0


def _recipe_from_options(args):
    # The one-phase recipe that ``vgan train``'s options describe.
    from . import extras
    from .data import GolfClips
    from .recipe import Phase, Recipe
    from .train import TrainConfig

    cfg = _model_config(args)
    tcfg = from_args(TrainConfig, args, extras=checked(extras.parse, args.extra))
    if args.iterations and args.epochs:
        raise UsageError("give --iterations or --epochs, not both")
    iterations = args.iterations
    if not iterations:
        clips = len(GolfClips(args.data, args.root, frames=cfg.frames, size=cfg.size))
        per_step = tcfg.batch_size * tcfg.d_steps * int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's ranks
        iterations = max(1, math.ceil((args.epochs or 1.0) * clips / per_step))
    return Recipe(_model_config(args, spec=True), {"list": args.data, "root": args.root}, [Phase(iterations, tcfg)],
                  init=args.init)


def _cmd_train(args) -> int:
    import torch

    from .distributed import rank_and_world, start_from_env
    from .files import ensure_writable_dir, write_text_atomic
    from .recipe import load_recipe, run_recipe

    if args.recipe:
        defaults = vars(build_parser().parse_args(["train"]))
        changed = ["--" + k.replace("_", "-") for k, v in defaults.items()
                   if k not in _OUTPUT_OPTIONS and getattr(args, k) != v]
        if changed:
            raise UsageError(f"--recipe {args.recipe}: the recipe sets the model, data and training; "
                             f"leave out {', '.join(changed)}")
        recipe = load_recipe(args.recipe)
    else:
        recipe = _recipe_from_options(args)
    out = ensure_writable_dir(args.out, UsageError)
    device = start_from_env()  # under torchrun: join the group, one device per rank
    if rank_and_world()[0] == 0:
        print(f"memory allocator: {os.environ.get('VGAN_PRELOADED', 'glibc')}")
    trainer = run_recipe(recipe, out, resume_run=args.resume, workers=args.workers, sample_every=args.sample_every,
                         checkpoint_every=args.checkpoint_every, progress=not args.no_progress, device=device)
    if trainer.world > 1:  # leave together: a rank tearing gloo down while rank 0 still writes can abort
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if trainer.rank:
        return 0
    last = trainer.history[-1] if trainer.history else {}
    summary = {"step": trainer.step_count, **{k: round(v, 4) for k, v in last.items() if k != "step"}}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"done: {json.dumps(summary)}; checkpoint {out / 'checkpoint.pt'}")
    return 0


_OUTPUT_OPTIONS = {"recipe", "out", "workers", "sample_every", "checkpoint_every", "resume", "no_progress"}


def _cmd_sample(args) -> int:
    from .checkpoint import load_models
    from .files import ensure_writable_dir
    from .latent import sample_latents
    from .model import generate
    from .video import to_uint8, write_video_grid

    G, _ = load_models(args.checkpoint, device=_device(args.device))  # the device is tried first
    out = ensure_writable_dir(args.out, UsageError)
    streams = generate(G, sample_latents(args.n, G.cfg.z_dim, args.seed))
    views = {"video": streams.video}
    if streams.mask is not None:
        views.update(foreground=streams.foreground, mask=streams.mask,
                     background=streams.background.unsqueeze(2).expand_as(streams.video))
    for name, tensor in views.items():
        path = write_video_grid(out / f"{name}.{args.format}", to_uint8(tensor), fps=args.fps, scale=args.scale)
        print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------- action recognition (UCF-101)
# make-actions, finetune, evaluate: the paper's "is D a feature learner?" experiment.

def _add_ucf_data_args(p: argparse.ArgumentParser, saved: bool = False) -> None:
    from .ucf.clips import ClipSettings

    g = p.add_argument_group("data" + (" (default: as the classifier was trained)" if saved else ""))
    g.add_argument("--data", default="data/ucf-actions", help="UCF-101-style folder (ucfTrainTestlist/ + UCF-101/"
                   "Class/*.avi) or a bare tree of class folders (default: data/ucf-actions, from make-actions)")
    add_options(g, ClipSettings, defaults=dict.fromkeys(("split", "stride", "fps", "windows")) if saved else None)
    g.add_argument("--cache", help="folder for decoded frames (default: DATA/.vgan-cache)")
    g.add_argument("--skip-bad", action="store_true", help="leave out and report unreadable or missing videos "
                   "and bad list lines, instead of stopping at the first")
    g.add_argument("--workers", type=_non_negative_int, default=0,
                   help="processes for decoding and data loading (default: 0, all in this process)")


def _add_action_parsers(sub, quiet) -> None:
    from .ucf.finetune import FinetuneConfig
    from .ucf.synthetic import ActionSpec

    p = sub.add_parser("make-actions", parents=[quiet], help="write the generated UCF-format action set",
                       description="Write .avi videos of objects that differ by how they move, as UCF-101 is laid out.")
    p.add_argument("--out", default="data/ucf-actions", help="output folder (default: data/ucf-actions)")
    add_options(p, ActionSpec, only=("classes", "groups", "clips_per_group", "seed"))
    p.add_argument("--workers", type=_positive_int, help="processes (default: all cores, at most 8)")
    p.add_argument("--force", action="store_true", help="rewrite even if the folder already holds this set")

    p = sub.add_parser("finetune", parents=[quiet], help="train an action classifier from a GAN's discriminator",
                       description="Replace D's last layer by Dropout(0.5) and a K-way head; train, test, save it.")
    p.add_argument("--checkpoint", help="GAN checkpoint or weights file; 'none' or left out for --mode scratch, "
                                        "which then takes the network's shape from the model options")
    _add_ucf_data_args(p)
    t = p.add_argument_group("training")
    add_options(t, FinetuneConfig, skip=("beta1",))
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    t.add_argument("--out", default="runs/classifier.pt",
                   help="classifier file; its metrics go beside it as .json (default: runs/classifier.pt)")
    _add_model_options(p)  # the network's shape when there is no --checkpoint (scratch only)

    p = sub.add_parser("evaluate", parents=[quiet], help="test a saved action classifier", description="Clip and "
                       "video accuracy, per class, and the confusion matrix of a classifier on a split's test videos.")
    p.add_argument("--classifier", required=True, help="a classifier file written by 'vgan finetune'")
    _add_ucf_data_args(p, saved=True)
    p.add_argument("--batch-size", type=_positive_int, default=4, help="test videos per batch (default: 4)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    p.add_argument("--json", help="also write the results to this JSON file")


def _load_action_data(args, cfg, settings: dict, seed=0):
    from .ucf.clips import load_ucf101

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped videos are listed below instead
        data = load_ucf101(args.data, cfg, **settings, cache_dir=args.cache, on_error="skip" if args.skip_bad
                           else "raise", seed=seed, progress=not args.no_progress, workers=args.workers)
    for msg in data.skipped:
        print(f"skipped: {msg}", file=sys.stderr)
    print(f"data: {data}")
    return data


def _device(name: str):
    from .device import usable_device

    return usable_device(name)


def _cmd_make_actions(args) -> int:
    from .ucf.synthetic import ActionSpec, make_actions

    spec = from_args(ActionSpec, args)
    out = make_actions(args.out, spec, workers=args.workers, progress=not args.no_progress, overwrite=args.force)
    n = spec.classes * spec.groups * spec.clips_per_group
    print(f"{n} videos of {spec.classes} classes in {out / 'UCF-101'}; lists in {out / 'ucfTrainTestlist'}")
    return 0


def _cmd_finetune(args) -> int:
    from .checkpoint import load_checkpoint
    from .files import ensure_writable_file, write_text_atomic
    from .ucf.clips import ClipSettings
    from .ucf.finetune import FinetuneConfig, fit_classifier, save_classifier

    tune = from_args(FinetuneConfig, args)
    checkpoint = None if args.checkpoint in (None, "", "none") else args.checkpoint
    if checkpoint is None and tune.mode != "scratch":
        raise UsageError(f"--mode {tune.mode} starts from a GAN's discriminator: give --checkpoint "
                         f"(or use --mode scratch)")
    device = _device(args.device)
    out = ensure_writable_file(args.out, UsageError)  # fail now, not after training
    ensure_writable_file(out.with_suffix(".json"), UsageError)
    if checkpoint is not None:
        cfg = load_checkpoint(checkpoint)["model_config"]
        if tune.mode == "scratch":
            print(f"scratch: {checkpoint} gives the network's shape only; its weights are not used")
    else:
        cfg = _model_config(args)
    data = _load_action_data(args, cfg, values_from(args, ClipSettings), tune.seed)
    print(f"model {cfg}; mode {tune.mode}; device {device}; {tune.epochs} epochs of batch {tune.batch_size}"
          + (f"; {tune.label_fraction:.0%} of the labels" if tune.label_fraction < 1 else ""))
    result = fit_classifier(data, checkpoint=checkpoint if tune.mode != "scratch" else None, cfg=cfg, device=device,
                            workers=args.workers, progress=not args.no_progress, **values_from(args, FinetuneConfig))
    print(result.evaluation.format())
    summary = {**result.to_dict(), "checkpoint": checkpoint, "data": str(args.data), **data.settings,
               "evaluation": result.evaluation.to_dict(), "history": result.history}
    save_classifier(out, result.model, data.classes, tune.mode, data.settings, extra=summary)
    write_text_atomic(out.with_suffix(".json"), json.dumps(summary, indent=2) + "\n")
    print(f"saved {out} (metrics: {out.with_suffix('.json')})")
    return 0


def _cmd_evaluate(args) -> int:
    from .files import ensure_writable_file, write_text_atomic
    from .ucf.clips import ClipSettings
    from .ucf.finetune import evaluate, load_classifier

    if args.json:  # fail now, not after the evaluation
        ensure_writable_file(args.json, UsageError)
    device = _device(args.device)
    model, info = load_classifier(args.classifier, device=device)
    # an option given here wins over the one saved with the classifier
    settings = {k: v if v is not None else info["settings"].get(k, ClipSettings.__dataclass_fields__[k].default)
                for k, v in values_from(args, ClipSettings).items()}
    data = _load_action_data(args, model.cfg, settings)
    if info["classes"] and list(data.classes) != info["classes"]:
        raise UsageError(f"{args.classifier} was trained on {len(info['classes'])} classes "
                         f"({', '.join(info['classes'][:4])}...) that differ from the {len(data.classes)} "
                         f"in {args.data}")
    result = evaluate(model, data.test, data.classes, batch_size=args.batch_size, device=device,
                      workers=args.workers, progress=not args.no_progress)
    print(f"classifier {args.classifier} (mode {info['mode']})")
    print(result.format())
    if args.json:
        write_text_atomic(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


def _with_allocator() -> None:
    # VGAN_ALLOCATOR=jemalloc (or tcmalloc) runs ``vgan train`` again with that allocator preloaded, where installed:
    # glibc's unmaps and maps a step's large activations every time. Whether that costs more than another allocator
    # depends on the machine (benchmarks/train_step.py --allocators measures it), so glibc's stays the default.
    import ctypes.util

    wanted = os.environ.get("VGAN_ALLOCATOR", "glibc")
    lib = ctypes.util.find_library(wanted) if wanted != "glibc" and "VGAN_PRELOADED" not in os.environ else None
    if lib and sys.argv[1:2] == ["train"]:
        preload = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), lib]))
        env = {**os.environ, "VGAN_PRELOADED": lib, "LD_PRELOAD": preload}
        os.execve(sys.executable, [sys.executable, "-m", "vgan_lib", *sys.argv[1:]], env)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .errors import VganError, one_line

    if argv is None:  # the program itself, not a call from Python
        _with_allocator()

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a bad argument already reported in one line
        return e.code
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    commands = {"make-data": _cmd_make_data, "train": _cmd_train, "sample": _cmd_sample,
                "make-actions": _cmd_make_actions, "finetune": _cmd_finetune, "evaluate": _cmd_evaluate,
                "prepare": _cmd_prepare}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if isinstance(e, (VganError, OSError)) and getattr(e, "filename", True):  # the user's to fix: one line
            why = one_line(e) if isinstance(e, VganError) else f"{e.filename}: {e.strerror}"  # disk full, access...
            print(f"{PROG}: error: {why}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        import tempfile
        import traceback

        with tempfile.NamedTemporaryFile("w", prefix=f"{PROG}-{args.command}-", suffix=".txt", delete=False) as log:
            traceback.print_exc(file=log)
        print(f"{PROG}: internal error: {type(e).__name__}: {one_line(e)} (traceback in {log.name}; "
              f"{PROG} --debug {args.command} ... shows it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
