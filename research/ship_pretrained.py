"""Turn a training checkpoint into a shipped model, or check a shipped model's figures.

Run from the repository root:

    python -m research.ship_pretrained --checkpoint runs/pretrained-small/checkpoint.pt \\
        --name small-synthetic --command "vgan train ..." [--command "vgan train ... --resume"] \\
        --wall-seconds 9000 --history runs/step1000.pt runs/step2000.pt
    python -m research.ship_pretrained --checkpoint runs/more/step_400.pt --continues small-synthetic \\
        --keep-discriminator --command "vgan train ... --init vgan_lib/weights/small-synthetic.pt" ...
    python -m research.ship_pretrained --check small-synthetic   # recompute and compare the manifest's figures
    python -m research.ship_pretrained --check small-synthetic --add-new-figures   # and store figures it lacks

Shipping writes ``vgan_lib/weights/<name>.pt`` (G and D weights, no optimiser state)
and ``vgan_lib/weights/<name>.json``: the commands, data spec and seed, iterations,
wall time, library and torch versions, the file's sha256 and the figures of
``vgan_lib.metrics.quality_report`` (trained, real clips, untrained floor).

``--continues NAME`` ships a run that went on from a shipped model (``vgan train --init``):
its commands, iterations, wall time and history come first in the new manifest.
``--keep-discriminator`` ships that model's D unchanged next to the new G, so results
measured with its D (the UCF-101 experiments) still hold for the new file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from research.measure_checkpoints import EXTRA_TERMS, ROOT, measure
from vgan_lib import __version__
from vgan_lib.extras import TERMS
from vgan_lib.checkpoint import load_checkpoint, load_models, save_weights
from vgan_lib.files import write_text_atomic
from vgan_lib.history import copy_history
from vgan_lib.metrics import quality_report
from vgan_lib.recipe import load_recipe
from vgan_lib.pretrained import PRETRAINED_DIR, load_pretrained, manifest, sha256_of
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

N_CLIPS = 256


def _data_list(spec: dict) -> Path:
    """The synthetic set the model was trained on, regenerated if it is not on disk."""
    return make_synthetic(ROOT / "data" / "synthetic", SyntheticSpec(**spec), progress=False)


def ship(args) -> int:
    state = load_checkpoint(args.checkpoint)
    recipe = load_recipe(args.recipe) if args.recipe else None
    spec = json.loads((Path(args.data).parent / "synthetic.json").read_text())
    if recipe and "synthetic" in recipe.data:
        # the recipe made its own set: that spec, while the figures stay on the kit's default set
        spec = asdict(recipe.data["synthetic"])
    G, D = load_models(args.checkpoint)        # G: the moving average when the run kept one
    if args.generator == "G" and "G_ema" in state:
        G.load_state_dict(state["G"])          # the generator as trained
    before = manifest(args.continues) if args.continues else None
    if args.keep_discriminator:
        _, D = load_pretrained(args.continues)  # read (and sha256-checked) before the file is replaced
    out = PRETRAINED_DIR / f"{args.name}.pt"
    save_weights(out, G, D)
    report = quality_report(G, _data_list(asdict(SyntheticSpec())), n=N_CLIPS, seed=0)
    info = {
        "name": args.name,
        "file": out.name,
        "sha256": sha256_of(out),
        "bytes": out.stat().st_size,
        # a recipe makes its own data; otherwise the data set's command comes first
        "commands": [*(before["commands"] if before else [] if recipe else [args.data_command]), *args.command],
        "data": {"kind": "synthetic", "spec": spec},
        "model_config": state["model_config"].to_dict(),
        "train_config": state["train_config"],
        "iterations": state["step"] + (before["iterations"] if before else 0),
        "generator_weights": ("the moving average of G's weights (vgan train --ema)"
                              if "G_ema" in state and args.generator == "G_ema" else "G as trained"),
        "wall_seconds": (args.wall_seconds + (before["wall_seconds"] if before else 0)
                         if args.wall_seconds is not None else None),
        "machine": args.machine,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
        "final_losses": {k: round(v[-1], 4) for k, v in state["history"].items() if k != "step"},
        "quality": {"clips": N_CLIPS, "seed": 0, **report},
        "check": "python -m research.ship_pretrained --check " + args.name,
    }
    if before:
        q = before["quality"]   # the figures the run started from, measured as this file's are
        info["continues"] = {"name": before["name"], "sha256": before["sha256"], "iterations": before["iterations"],
                             "quality": {"motion_ratio": q["motion_ratio"], "moving_ratio": q["moving_ratio"],
                                         **q["generated"]}}
        info["discriminator"] = (f"D of the file continued (sha256 {before['sha256']}, iterations "
                                 f"{before['iterations']}), unchanged" if args.keep_discriminator
                                 else "D as trained with G")
    if recipe:
        where = Path(args.recipe).resolve()
        info["recipe"] = where.relative_to(ROOT).as_posix() if where.is_relative_to(ROOT) else str(where)
        info["threads"] = recipe.threads
        info["data"]["list"] = recipe.data["list"]
    if args.training_history:
        # the fixed latents' videos and the figures along the run up to the step shipped (vgan_lib.history)
        kept = PRETRAINED_DIR / f"{args.name}-history"
        try:
            copy_history(args.training_history, kept, state["step"])
        except FileNotFoundError as e:
            raise SystemExit(f"--training-history {e}") from None
        info["training_history"] = kept.name
    if args.note:
        info["notes"] = args.note
    if args.history or "G_ema" in state or before:
        offset = before["iterations"] if before else 0
        info["history"] = [*(before.get("history", []) if before else []),
                           *[_history_row(path, spec, offset) for path in [*args.history, args.checkpoint]]]
    write_text_atomic(PRETRAINED_DIR / f"{args.name}.json", json.dumps(info, indent=2) + "\n")
    print(json.dumps(info["quality"], indent=2))
    print(f"wrote {out} ({info['bytes'] / 1e6:.1f} MB) and its manifest")
    return 0


# the figures an earlier checkpoint of the run keeps in the manifest's history
HISTORY_FIGURES = ("motion_ratio", "moving_ratio", "mask_open", "mask_undecided", "smoothness", "still_share",
                   "motion_overlap", "colour_distance")


def _history_row(path, spec: dict, offset: int = 0) -> dict:
    """Motion figures of an earlier checkpoint of the same run, for its raw G and its averaged G.

    ``offset``: the iterations of the shipped model the run went on from (its steps count from 0).
    """
    measured, _ = measure(Path(path), _data_list(spec), N_CLIPS, ("G", "G_ema"))
    # the recipe of the leg that wrote this checkpoint: a run can be resumed with another --lr or --mask-lambda
    row = {k: measured[k] for k in ("step", "lr", "mask_lambda", *EXTRA_TERMS, *TERMS) if k in measured}
    row["step"] += offset
    for key in ("G", "G_ema"):
        if key in measured:
            row[key] = {k: measured[key][k] for k in HISTORY_FIGURES}
    return row


def _compare(stored, fresh, path="quality", rel=2e-3) -> list:
    bad = []
    for k, v in stored.items():
        if isinstance(v, dict):
            bad += _compare(v, fresh.get(k, {}), f"{path}.{k}", rel)
        elif isinstance(v, float) and not math.isclose(v, fresh.get(k, math.nan), rel_tol=rel, abs_tol=1e-6):
            bad.append(f"{path}.{k}: manifest {v} vs now {fresh.get(k)}")
    return bad


def _missing(stored: dict, fresh: dict) -> dict:
    """The figures of ``fresh`` that ``stored`` does not have yet, nested as in the report."""
    out = {}
    for k, v in fresh.items():
        if isinstance(v, dict):
            sub = _missing(stored.get(k, {}), v)
            if sub:
                out[k] = sub
        elif k not in stored:
            out[k] = v
    return out


def check(name: str, add_new: bool = False) -> int:
    info = manifest(name)
    G, _ = load_pretrained(name)  # verifies the sha256
    report = quality_report(G, _data_list(asdict(SyntheticSpec())), n=info["quality"]["clips"],
                            seed=info["quality"]["seed"])
    stored = {k: v for k, v in info["quality"].items() if k not in ("clips", "seed")}
    bad = _compare(stored, report)
    print(json.dumps(report, indent=2))
    if bad:
        print("figures differ from the manifest:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print(f"{name}: sha256 ok; all {sum(len(v) if isinstance(v, dict) else 1 for v in stored.values())} "
          f"figures match the manifest (relative tolerance 2e-3)")
    new = _missing(stored, report)
    if add_new and new:
        # figures that vgan_lib.metrics has learnt to compute since the model was shipped
        for k, v in new.items():
            info["quality"][k] = {**info["quality"].get(k, {}), **v} if isinstance(v, dict) else v
        write_text_atomic(PRETRAINED_DIR / f"{name}.json", json.dumps(info, indent=2) + "\n")
        print(f"added to the manifest: {json.dumps(new)}")
    elif new:
        print(f"not in the manifest yet (--add-new-figures writes them): {json.dumps(new)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="NAME", help="recompute a shipped model's figures and compare")
    ap.add_argument("--add-new-figures", action="store_true",
                    help="with --check: when every stored figure matches, also store figures the manifest lacks")
    ap.add_argument("--checkpoint", help="training checkpoint to ship")
    ap.add_argument("--name", default="small-synthetic")
    ap.add_argument("--data", default=str(ROOT / "data" / "synthetic" / "train.txt"))
    ap.add_argument("--data-command", default="vgan make-data")
    ap.add_argument("--command", action="append",
                    help="the exact training command; repeat for a run resumed in several legs")
    ap.add_argument("--note", action="append", default=[], help="a sentence for the manifest (repeatable)")
    ap.add_argument("--generator", choices=["G", "G_ema"], default="G_ema",
                    help="ship G as trained, or its moving average when the run kept one (default)")
    ap.add_argument("--history", nargs="*", default=[], metavar="CHECKPOINT",
                    help="earlier checkpoints of the run whose motion figures the manifest records")
    ap.add_argument("--continues", metavar="NAME",
                    help="the run went on from this shipped model's weights (vgan train --init): its commands, "
                         "iterations, wall time and history come first")
    ap.add_argument("--keep-discriminator", action="store_true",
                    help="with --continues: ship that model's D unchanged with the new G")
    ap.add_argument("--wall-seconds", type=float, help="of this run (with --continues, the earlier time is added)")
    ap.add_argument("--machine", default="")
    ap.add_argument("--recipe", metavar="FILE", help="the recipe the run followed (vgan train --recipe FILE)")
    ap.add_argument("--training-history", metavar="DIR",
                    help="the run's history folder (OUT/history), shipped beside the weights")
    args = ap.parse_args(argv)
    if args.check:
        return check(args.check, args.add_new_figures)
    if not (args.checkpoint and args.command):
        ap.error("shipping needs --checkpoint and --command")
    if args.keep_discriminator and not args.continues:
        ap.error("--keep-discriminator needs --continues NAME")
    return ship(args)


if __name__ == "__main__":
    sys.exit(main())
