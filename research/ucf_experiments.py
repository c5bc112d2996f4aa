"""The UCF-101 experiment of the paper, on the kit's generated action set: is D a feature learner?

    python -m research.ucf_experiments                              # the committed results (shipped model)
    python -m research.ucf_experiments --checkpoint runs/dev/gan_snapshot.pt --out runs/ucf_snapshot.json
    python -m research.ucf_experiments --validation-groups 4 --out runs/ucf_validation.json   # choose settings

Two tasks on the set ``vgan_lib.ucf.synthetic.make_actions`` writes (UCF-101's layout, split 1):

* ``binary``: YoYo vs Kayaking (``ActionSpec(classes=2)``), the task of the earlier PyTorch port;
* ``kway``:   the first K motions of the catalogue (``ActionSpec(classes=10)``).

Each task runs the three modes of ``vgan_lib.ucf.finetune`` (scratch, linear, finetune)
with every seed at an equal budget: the same epochs, batch size, optimiser (Adam 2e-4,
beta1 0.5), training videos and seeds. The label-efficiency sweep trains the K-way
task on class-stratified fractions of the training videos, with the same epochs for
every mode (the test videos stay whole).

``--validation-groups N`` never touches the test split: it holds out N training groups
as validation (``validation_split``) and records validation accuracy after
every epoch. That is how the epochs were chosen.

The results go to a JSON file with the exact command, settings, checkpoint (path,
sha256, GAN iterations), data specs, library/torch versions, machine facts, and the
wall and CPU time. ``--jobs 2`` runs two trainings at once (one torch thread each):
the numbers are the same as with one job.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from vgan_lib import __version__
from vgan_lib.checkpoint import load_checkpoint, load_models
from vgan_lib.files import write_text_atomic
from vgan_lib.pretrained import PRETRAINED_DIR, manifest, sha256_of
from vgan_lib.ucf.clips import TestVideos, UCF101Data, load_ucf101
from vgan_lib.ucf.finetune import MODES, fit_classifier
from vgan_lib.ucf.synthetic import ActionSpec, make_actions
from vgan_lib.viz import format_table

ROOT = Path(__file__).resolve().parent.parent

# task -> (the generated set's spec, its folder under --data-dir)
TASKS = {
    "binary": (ActionSpec(classes=2), "ucf-actions-2"),
    "kway": (ActionSpec(classes=10), "ucf-actions"),
}
DEFAULT_OUT = ROOT / "research" / "results" / "ucf_actions.json"
ORDER = ("scratch", "linear", "finetune")   # the paper's rows: random init, logistic regression, fine-tune


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _git() -> dict:
    def run(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    return {"commit": run("rev-parse", "HEAD"), "dirty_files": (run("status", "--porcelain") or "").splitlines()}


def _checkpoint_info(args) -> dict:
    """Where D comes from: the shipped model's manifest, or a checkpoint's own record."""
    if args.checkpoint is None:
        info = manifest(args.pretrained)
        path = PRETRAINED_DIR / info["file"]
        return {"name": args.pretrained, "path": _rel(path), "sha256": info["sha256"],
                "gan_iterations": info.get("iterations"), "model_config": info.get("model_config")}
    path = Path(args.checkpoint)
    state = load_checkpoint(path)
    return {"name": None, "path": _rel(path), "sha256": sha256_of(path), "gan_iterations": state.get("step"),
            "model_config": state["model_config"].to_dict()}


# ---------------------------------------------------------------------------- one run (in a worker)

_CACHE: dict = {}        # per process: "D", ("data", task)
_CACHE_PATH: list = []   # per process: the file D comes from


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")


def _data(args, task: str):
    key = ("data", task)
    if key not in _CACHE:
        cfg = _CACHE["D"].cfg
        root = Path(args.data_dir) / TASKS[task][1]
        data = load_ucf101(root, cfg, args.split, stride=args.stride, fps=args.fps, windows=args.windows,
                           progress=False)
        if args.validation_groups:
            data = validation_split(data, args.validation_groups, seed=0)
        _CACHE[key] = data
    return _CACHE[key]


def _one_run(args, job: dict) -> dict:
    if "D" not in _CACHE:
        _CACHE["D"] = load_models(_CACHE_PATH[0])[1]
    data = _data(args, job["task"])
    cpu0 = time.process_time()
    r = fit_classifier(data, job["mode"], D=_CACHE["D"], epochs=job["epochs"], batch_size=args.batch_size,
                       lr=args.lr, label_fraction=job["fraction"], seed=job["seed"], device=args.device,
                       progress=False, track_test=bool(args.validation_groups))
    ev = r.evaluation
    row = dict(job, train_videos=r.train_videos, test_videos=ev.num_videos, test_clips=ev.num_clips,
               clip_accuracy=ev.clip_accuracy, video_accuracy=ev.video_accuracy,
               per_class_accuracy=ev.to_dict()["per_class_accuracy"], confusion=ev.confusion.tolist(),
               loss=[h["loss"] for h in r.history], train_accuracy=[h["train_accuracy"] for h in r.history],
               seconds=r.seconds, cpu_seconds=time.process_time() - cpu0)
    if args.validation_groups:
        row["val_video_accuracy"] = [h["video_accuracy"] for h in r.history]
        row["val_clip_accuracy"] = [h["clip_accuracy"] for h in r.history]
    return row



def _pool_init(threads: int, d_path: str) -> None:
    _worker_init(threads)
    _CACHE_PATH[:] = [d_path]


def _pool_run(args, job):
    return _one_run(args, job)


# ---------------------------------------------------------------------------- summary

def summarize(rows) -> list:
    """Mean, std (over seeds, ddof=1), min and max of clip and video accuracy per (task, fraction, mode)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["fraction"], r["mode"]), []).append(r)
    out = []
    for (task, fraction, mode), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                              ORDER.index(kv[0][2]))):
        rec = {"task": task, "fraction": fraction, "mode": mode, "runs": len(rs), "epochs": rs[0]["epochs"],
               "train_videos": rs[0]["train_videos"], "test_videos": rs[0]["test_videos"]}
        for key in ("video_accuracy", "clip_accuracy"):
            v = np.array([r[key] for r in rs], dtype=float)
            rec[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                        "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}
        out.append(rec)
    return out


def format_summary(summary) -> str:
    def stat(s):
        return f"{s['mean']:.3f} ± {s['std']:.3f}"

    return format_table(["task", "labels", "mode", "runs", "video acc", "clip acc"],
                        [[s["task"], f"{s['fraction']:.0%}", s["mode"], s["runs"], stat(s["video_accuracy"]),
                          stat(s["clip_accuracy"])] for s in summary])


def format_results(rows) -> str:
    """Mean ± std of video and clip accuracy per (task, label fraction, mode) over seeds."""
    return format_summary(summarize(rows))


# ---------------------------------------------------------------------------- choosing settings, small tables

def validation_split(data: UCF101Data, groups: int = 4, seed: int = 0, windows=None) -> UCF101Data:
    """Hold out ``groups`` whole training groups (in every class) as validation: the data to choose settings on.

    Returns a ``UCF101Data`` whose ``train`` is the other training groups and whose ``test``
    is the held-out ones (``windows`` per video, default as ``data.test``), so
    ``fit_classifier`` works on it unchanged; ``data.test`` is never touched.
    """
    train = data.train
    names = sorted({v.group for v in train.videos})
    if not 1 <= groups < len(names):
        raise ValueError(f"groups must be in 1..{len(names) - 1} (the training set has {len(names)} groups), "
                         f"got {groups}")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {names[i] for i in order[:groups]}
    keep = [i for i, v in enumerate(train.videos) if v.group not in held]
    out = [i for i, v in enumerate(train.videos) if v.group in held]
    val = TestVideos([train.videos[i] for i in out], [train.files[i] for i in out], [train.lengths[i] for i in out],
                     train.frames, data.test.windows if windows is None else windows)
    index = replace(data.index, train=[train.videos[i] for i in keep], test=list(val.videos), layout="validation",
                    skipped=[])
    return replace(data, train=train.subset(keep), test=val, index=index, skipped=[])


def run_modes(data: UCF101Data, checkpoint=None, modes=ORDER, seeds=(0, 1, 2), epochs: int = 24,
              label_fraction=1.0, progress: bool = True, **settings) -> list:
    """Every mode x seed (x label fraction) at the same budget; one row per run (``format_results``).

    The GAN checkpoint is read once; ``settings`` go to ``fit_classifier`` (batch_size, lr,
    device, cfg for scratch without a checkpoint, ...).
    """
    D = load_models(checkpoint)[1] if checkpoint is not None else None
    fractions = [label_fraction] if isinstance(label_fraction, (int, float)) else list(label_fraction)
    return [dict(fit_classifier(data, mode, D=D, epochs=epochs, label_fraction=f, seed=seed, progress=progress,
                                **settings).to_dict(), task="-", fraction=f)
            for f in fractions for mode in modes for seed in seeds]


# ---------------------------------------------------------------------------- main

def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="GAN checkpoint or weights file for D (default: the shipped model)")
    ap.add_argument("--pretrained", default="small-synthetic", help="shipped model used without --checkpoint")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"results JSON (default: {_rel(DEFAULT_OUT)})")
    ap.add_argument("--data-dir", default=str(ROOT / "data"), help="where the action sets are generated")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--modes", nargs="+", default=list(ORDER), choices=list(MODES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--binary-epochs", type=int, default=24,
                    help="epochs for the binary task (default: 24, the earlier PyTorch port's)")
    ap.add_argument("--kway-epochs", type=int, default=12, help="epochs for the K-way task and its sweep (default: 12)")
    ap.add_argument("--fractions", nargs="*", type=float, default=[0.25],
                    help="label fractions (< 1) for the K-way sweep; the full set comes from the table")
    ap.add_argument("--sweep-budget", choices=["steps", "epochs"], default="steps",
                    help="steps: a fraction f trains for epochs / f, as many gradient steps as the full set "
                         "(fewer labels, not less training); epochs: the same epochs (default: steps)")
    ap.add_argument("--sweep-only", action="store_true", help="only the label fractions < 1 (no full-set table)")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--split", type=int, default=1)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--fps", type=float, default=None)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--validation-groups", type=int, default=0,
                    help="hold out this many training groups and test on them instead of the test split")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job (default: 1)")
    ap.add_argument("--jobs", type=int, default=1, help="trainings run at once (default: 1)")
    args = ap.parse_args(argv)

    t_start, started = time.perf_counter(), datetime.now(timezone.utc)
    torch.set_num_threads(args.threads)
    info = _checkpoint_info(args)
    d_path = ROOT / info["path"] if not Path(info["path"]).is_absolute() else Path(info["path"])
    _CACHE_PATH[:] = [str(d_path)]
    _CACHE["D"] = load_models(d_path)[1]
    cfg = _CACHE["D"].cfg
    machine, git = _machine(), _git()

    # generate the sets and fill the frame cache here, so workers only read it
    datasets = {}
    for task in args.tasks:
        spec, folder = TASKS[task]
        root = make_actions(Path(args.data_dir) / folder, spec, progress=False)
        data = _data(args, task)
        datasets[task] = {"folder": _rel(root), "spec": spec.to_dict(), "classes": data.classes,
                          "train_videos": len(data.train), "test_videos": len(data.test),
                          "validation_groups": sorted({v.group for v in data.test.videos})
                          if args.validation_groups else None}
        print(f"{task}: {data}", flush=True)

    jobs = []
    for task in args.tasks:
        epochs = args.binary_epochs if task == "binary" else args.kway_epochs
        fractions = [] if args.sweep_only else [1.0]
        fractions += sorted(f for f in args.fractions if f < 1) if task == "kway" else []
        for fraction in fractions:
            n = epochs if args.sweep_budget == "epochs" else int(round(epochs / fraction))
            for mode in args.modes:
                for seed in args.seeds:
                    jobs.append({"task": task, "mode": mode, "seed": seed, "fraction": fraction, "epochs": n})
    cost = {"scratch": 1.0, "finetune": 1.0, "linear": 0.2}
    order = sorted(range(len(jobs)), key=lambda i: -cost[jobs[i]["mode"]] * jobs[i]["epochs"] * jobs[i]["fraction"]
                   * (5 if jobs[i]["task"] == "kway" else 1))
    print(f"{len(jobs)} trainings, {args.jobs} at a time, {args.threads} torch thread(s) each", flush=True)

    rows = [None] * len(jobs)
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, initializer=_pool_init, initargs=(args.threads, str(d_path))) as pool:
            futures = {pool.submit(_pool_run, args, jobs[i]): i for i in order}
            for n, fut in enumerate(as_completed(futures), 1):
                i = futures[fut]
                rows[i] = fut.result()
                r = rows[i]
                print(f"[{n}/{len(jobs)}] {r['task']} {r['fraction']:.0%} {r['mode']} seed {r['seed']}: "
                      f"video {r['video_accuracy']:.3f} clip {r['clip_accuracy']:.3f} ({r['seconds']:.0f} s)",
                      flush=True)
    else:
        _worker_init(args.threads)
        for n, i in enumerate(order, 1):
            rows[i] = r = _one_run(args, jobs[i])
            print(f"[{n}/{len(jobs)}] {r['task']} {r['fraction']:.0%} {r['mode']} seed {r['seed']}: "
                  f"video {r['video_accuracy']:.3f} clip {r['clip_accuracy']:.3f} ({r['seconds']:.0f} s)",
                  flush=True)

    summary = summarize(rows)
    wall = time.perf_counter() - t_start
    result = {
        "what": "VideoGAN D as an action-recognition feature learner on the generated UCF-format action set"
                + (" (VALIDATION groups, not the test split)" if args.validation_groups else ""),
        "command": shlex.join(["python", "-m", "research.ucf_experiments", *argv]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "model_config": cfg.to_dict(),
        "checkpoint": info,
        "datasets": datasets,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "git": git,
        "machine": machine,
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": wall,
        "cpu_seconds_training": sum(r["cpu_seconds"] for r in rows),
        "summary": summary,
        "runs": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(result, indent=1) + "\n")
    print(format_summary(summary))
    print(f"wall time {wall / 60:.1f} min, training CPU time {result['cpu_seconds_training'] / 60:.1f} min; "
          f"wrote {_rel(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
