"""A run you can watch afterwards: at chosen steps, the videos of one fixed batch of latents and the kit's figures.

A recipe with ``history_every = N`` keeps, in ``OUT/history/``, for step 0 and every N steps:

* ``step_0001000.jpg``: the fixed latents' videos as one mosaic, frames down, latents across (T*H, N*W, 3), JPEG
  quality 90 (small enough to ship; the colours are JPEG's, the motion is the model's);
* ``figures.json``: per step, the figures of ``metrics.compare_with_real`` for 256 latents against 256 real clips
  of the run's data (pixel and learned), and the real clips' own figures once, for scale.

``load_history(folder)`` reads it back; the shipped model keeps its run's history up to the step shipped beside its
weights (``copy_history``), and ``training_history(name)`` reads that."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from . import pretrained
from .errors import CheckpointError
from .files import atomic_path, write_text_atomic
from .latent import sample_latents
from .metrics import compare_with_real
from .model import generate
from .video import to_uint8

__all__ = ["HISTORY_LATENTS", "FIGURE_CLIPS", "History", "snapshot_name", "record", "copy_history", "kept_steps",
           "headline", "load_history", "training_history"]

HISTORY_LATENTS = 8     # videos per snapshot (the first latents of ``sample_latents(n, z_dim, seed=0)``)
FIGURE_CLIPS = 256      # latents and real clips behind each step's figures


class History(NamedTuple):
    steps: list           # [0, N, 2N, ...]
    videos: np.ndarray    # (S, HISTORY_LATENTS, T, H, W, 3) uint8, one row of videos per step
    figures: list         # per step: {"motion_energy": ..., "factor_frechet": ..., ...} of the generated videos
    real: dict            # the real clips' own figures


def snapshot_name(step: int) -> str:
    return f"step_{step:07d}.jpg"


def _mosaic(videos: np.ndarray) -> np.ndarray:
    # (N, T, H, W, 3) -> (T*H, N*W, 3): frame t of every video side by side, frames down the picture
    n, t, h, w, c = videos.shape
    return videos.transpose(1, 2, 0, 3, 4).reshape(t * h, n * w, c)


def _unmosaic(picture: np.ndarray, size: int) -> np.ndarray:
    th, nw, c = picture.shape
    t, n = th // size, nw // size
    return picture.reshape(t, size, n, size, c).transpose(2, 0, 1, 3, 4)


@torch.no_grad()
def record(G, folder, step: int, real: torch.Tensor) -> dict:
    """Write step ``step``'s mosaic and add its figures to ``folder/figures.json`` (both atomically); return them.

    real: (N, 3, T, H, W) in [-1, 1], the clips every step is compared with (the same ones each time)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    videos = to_uint8(generate(G, sample_latents(HISTORY_LATENTS, G.cfg.z_dim, seed=0)).video)
    with atomic_path(folder / snapshot_name(step), suffix=".jpg") as tmp:
        Image.fromarray(_mosaic(videos)).save(tmp, quality=90)
    report = compare_with_real(G, real, n=FIGURE_CLIPS, seed=0)
    kept = _read(folder)
    kept["real"] = {k: round(v, 5) for k, v in report["real"].items()}
    kept["steps"][str(step)] = {**{k: round(v, 5) for k, v in report["generated"].items()},
                                "motion_ratio": round(report["motion_ratio"], 4)}
    _write(folder, kept)
    return kept["steps"][str(step)]


def _read(folder: Path) -> dict:
    path = folder / "figures.json"
    return json.loads(path.read_text()) if path.is_file() else {"real": {}, "steps": {}}


def _write(folder: Path, kept: dict) -> None:
    write_text_atomic(folder / "figures.json", json.dumps(kept, indent=1, sort_keys=True) + "\n")


def copy_history(folder, dest, last_step: int) -> list:
    """Copy the snapshots and figures ``folder`` kept up to ``last_step`` into a new folder ``dest`` (replaced if
    there); return the steps copied. A run that went on past the step shipped keeps its later ones to itself."""
    folder, dest = Path(folder), Path(dest)
    kept = _read(folder)
    kept["steps"] = {s: f for s, f in kept["steps"].items() if int(s) <= last_step}
    if str(last_step) not in kept["steps"]:
        raise FileNotFoundError(f"{folder}: no snapshot at step {last_step} (steps kept: "
                                f"{', '.join(sorted(kept['steps'], key=int))})")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for s in kept["steps"]:
        shutil.copyfile(folder / snapshot_name(int(s)), dest / snapshot_name(int(s)))
    _write(dest, kept)
    return sorted(int(s) for s in kept["steps"])


def kept_steps(folder) -> set:
    """The steps (as strings, the keys of ``figures.json``) whose figures ``folder`` already holds."""
    return set(_read(Path(folder))["steps"])


def headline(figures: dict) -> str:
    """One step's figures as one log line: the ones a run is judged by first."""
    names = ("motion_ratio", "still_share", "motion_overlap", "pairwise_rms_min", "factor_frechet", "factor_score")
    return ", ".join(f"{k} {figures[k]:.3g}" for k in names if k in figures)


def load_history(folder) -> History:
    """The snapshots and figures a run kept in ``folder`` (``OUT/history``), in step order."""
    folder = Path(folder)
    kept = _read(folder)
    steps = sorted(int(s) for s in kept["steps"] if (folder / snapshot_name(int(s))).is_file())
    if not steps:
        raise FileNotFoundError(f"{folder}: no training history here (a recipe keeps one with history_every)")
    pictures = []
    for s in steps:
        with Image.open(folder / snapshot_name(s)) as img:
            pictures.append(np.array(img.convert("RGB")))
    size = pictures[0].shape[1] // HISTORY_LATENTS
    videos = np.stack([_unmosaic(p, size) for p in pictures])
    return History(steps, videos, [kept["steps"][str(s)] for s in steps], kept["real"])


def training_history(name: str = "small-synthetic") -> History:
    """The run behind a shipped model: its fixed latents' videos and figures from step 0 to the shipped step."""
    info, folder = pretrained.manifest(name), pretrained.PRETRAINED_DIR
    if "training_history" not in info:
        raise CheckpointError(f"{folder / (name + '.json')}: {name!r} was shipped without its training history")
    return load_history(folder / info["training_history"])
