"""The shipped model's figures for any checkpoints of a training run.

Run from the repository root:

    python -m research.measure_checkpoints runs/a/step_1000.pt runs/a/step_2000.pt \\
        --run lambda10 --command "vgan train ... --mask-lambda 10" --out runs/figures.json

For each checkpoint it measures G (and, with ``--ema``, its moving average) with
``vgan_lib.metrics.quality_report`` on the same 256 real clips and latents as the
shipped model's manifest (``research/ship_pretrained.py``), so the numbers compare
directly. ``--out`` collects runs: a run measured again replaces its old entry, other
runs stay. The real clips' and the untrained floor's figures are stored once.

    python -m research.measure_checkpoints --again --out research/results/mask_prior_runs.json

measures every checkpoint of every run in ``--out`` again (after vgan_lib.metrics has
learnt a new figure), keeping the runs' commands and notes; each checkpoint must still
be on disk with the sha256 it was measured with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vgan_lib import __version__
from vgan_lib.checkpoint import load_checkpoint
from vgan_lib.files import write_text_atomic
from vgan_lib.metrics import quality_report
from vgan_lib.model import build_models
from vgan_lib.pretrained import sha256_of
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

# the repository: the synthetic data set and the measured checkpoints' paths are relative to it
ROOT = Path(__file__).resolve().parent.parent

# terms of G's or D's loss the original recipe lacks, as the train configs of earlier runs named them
# (top-level keys); newer configs keep them by name in ``extras`` (vgan_lib.extras). A row names a term
# only when a run used it.
EXTRA_TERMS = ("mask_binary", "flicker", "r1")


def measure(path: Path, list_file: Path, clips: int, keys=("G",)) -> tuple:
    """(row, report of the last generator measured) for one checkpoint."""
    state = load_checkpoint(path)
    tc = state.get("train_config", {})
    row = {"checkpoint": str(path), "sha256": sha256_of(path), "step": state["step"], "lr": tc.get("lr"),
           "mask_lambda": tc.get("mask_lambda")}
    for extra in EXTRA_TERMS:
        if tc.get(extra):
            row[extra] = tc[extra]
    row.update({name: w for name, w in (tc.get("extras") or {}).items() if w})
    report = None
    for key in keys:
        if key not in state:
            continue
        G, _ = build_models(state["model_config"])
        G.load_state_dict(state[key])
        report = quality_report(G, list_file, n=clips, seed=0)
        row[key] = {"motion_ratio": report["motion_ratio"], "moving_ratio": report["moving_ratio"],
                    **report["generated"]}
    return row, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*", type=Path)
    ap.add_argument("--run", help="a name for the run these checkpoints come from")
    ap.add_argument("--again", action="store_true", help="measure every run already in --out again")
    ap.add_argument("--command", action="append", default=[], help="the run's exact command (repeatable)")
    ap.add_argument("--note", default="", help="a sentence on the run")
    ap.add_argument("--out", type=Path, required=True, help="JSON file that collects the runs")
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--ema", action="store_true", help="measure the moving average of G too")
    args = ap.parse_args(argv)
    if args.again == bool(args.checkpoints or args.run):
        ap.error("give checkpoints and --run, or --again alone")

    # the default synthetic set, as the shipped model was trained on (regenerated if missing)
    list_file = make_synthetic(ROOT / "data" / "synthetic", SyntheticSpec(), progress=False)
    if args.again:
        return again(args, list_file)
    rows, report = [], None
    for path in args.checkpoints:
        row, report = measure(path, list_file, args.clips, ("G", "G_ema") if args.ema else ("G",))
        rows.append(row)
        _say(args.run, row)
    rows.sort(key=lambda r: r["step"])

    data = json.loads(args.out.read_text()) if args.out.is_file() else {}
    _store(data, args.clips, report)
    data.setdefault("runs", {})[args.run] = {"commands": args.command, "note": args.note, "checkpoints": rows}
    write_text_atomic(args.out, json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def again(args, list_file: Path) -> int:
    if not args.out.is_file():
        sys.exit(f"{args.out}: no such file to measure again")
    data = json.loads(args.out.read_text())
    report = None
    for name, run in data.get("runs", {}).items():
        rows = []
        for old in run["checkpoints"]:
            path = ROOT / old["checkpoint"]
            if not path.is_file() or sha256_of(path) != old["sha256"]:
                sys.exit(f"{path}: missing, or not the checkpoint measured before (sha256 differs)")
            keys = [k for k in ("G", "G_ema") if k in old]
            row, report = measure(path, list_file, args.clips, keys)
            row["checkpoint"] = old["checkpoint"]
            rows.append(row)
            _say(name, row)
        run["checkpoints"] = rows
    if report is None:
        sys.exit(f"{args.out}: no checkpoints to measure")
    _store(data, args.clips, report)
    write_text_atomic(args.out, json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _say(run: str, row: dict) -> None:
    g = row["G"]
    print(f"{run} step {row['step']}: motion {g['motion_ratio']:.2f}x, moving {g['moving_ratio']:.2f}x, "
          f"still {g['still_share']:.2f}, mask undecided {g['mask_undecided']:.3f}, "
          f"motion overlap {g['motion_overlap']:.2f}, colour distance {g['colour_distance']:.2f}", flush=True)


def _store(data: dict, clips: int, report: dict) -> None:
    data.update(clips=clips, seed=0, library_version=__version__, real=report["real"], untrained=report["untrained"])


if __name__ == "__main__":
    sys.exit(main())
