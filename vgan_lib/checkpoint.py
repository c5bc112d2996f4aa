"""Checkpoints: plain dicts of tensors and Python values, written atomically (a temporary file renamed over the target)
and loaded with ``weights_only=True``, so no pickled code runs. Each file carries a ``format`` marker (GAN checkpoint or
classifier) and a version, which ``read_file`` checks. A trainer hands over its ``state_dict()`` (vgan_lib.train)."""

from __future__ import annotations

import os
import re
import textwrap
import warnings
from pathlib import Path
from typing import Optional, Union

import torch

from .errors import CheckpointError
from .files import atomic_path, ensure_writable_dir, wrong_file
from .model import VideoGANConfig, build_models

__all__ = ["GAN_FORMAT", "atomic_save", "read_file", "save_checkpoint", "save_weights", "load_checkpoint",
           "load_networks", "load_models"]

GAN_FORMAT = "vgan_lib.checkpoint"
FORMATS = {GAN_FORMAT: ("GAN checkpoint", 1), "vgan_lib.classifier": ("classifier", 1),
           "vgan_lib.factor_net": ("factor classifier", 1)}
PathLike = Union[str, os.PathLike]


def header(fmt: str) -> dict:
    from . import __version__
    # torch_version as a plain str: weights_only loading refuses torch's TorchVersion
    return {"format": fmt, "format_version": FORMATS[fmt][1], "library_version": __version__,
            "torch_version": str(torch.__version__)}


def atomic_save(obj, path: PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    ensure_writable_dir(path.parent, CheckpointError)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise CheckpointError(f"{path}: could not write the checkpoint ({e.strerror or e})") from None
    return path


def read_file(path: PathLike, fmt: str = GAN_FORMAT) -> dict:
    """A kit file of format ``fmt`` (CPU tensors, ``weights_only=True``), or one CheckpointError line
    that says what the file is instead: missing, not a torch file, another kind of kit file, too new."""
    path = Path(path)
    what, version = FORMATS[fmt]
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        with warnings.catch_warnings():  # torch warns of a pickle protocol before it refuses the file
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip errors, unpickling refusals, truncation...
        # torch's refusal of pickled objects suggests weights_only=False, which would run the file's code
        text, found = str(e).strip() or type(e).__name__, re.search(r"GLOBAL (\S+)", str(e))
        reason = (f"it holds pickled Python objects ({found[1]}) that a safe load refuses" if found else "not a "
                  "torch file" if "Unsupported operand" in text else f"torch.load failed: {text.split('. ')[0]}")
        raise CheckpointError(f"{path}: not a vgan_lib {what} ({wrong_file(path) or reason})") from None
    found = state.get("format") if isinstance(state, dict) else None
    if found != fmt:
        other = FORMATS.get(found, (None,))[0]
        raise CheckpointError(f"{path}: is a vgan_lib {other}, not a {what}" if other else
                              f"{path}: not a vgan_lib {what} (no '{fmt}' marker)")
    if state.get("format_version", 0) > version:
        raise CheckpointError(f"{path}: {what} format {state['format_version']} is newer than this vgan_lib "
                              f"reads ({version})")
    try:
        state["model_config"] = VideoGANConfig(**state["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {what} has an invalid model config ({e})") from None
    return state


def save_checkpoint(path: PathLike, state: dict, model_config: VideoGANConfig, extra: Optional[dict] = None) -> Path:
    """Write a trainer's ``state_dict()`` with the model config, torch's RNG state and the versions."""
    return atomic_save({**state, **header(GAN_FORMAT), "kind": "training", "model_config": model_config.to_dict(),
                        "torch_rng": torch.get_rng_state(), "extra": extra or {}}, path)


def save_weights(path: PathLike, G, D, extra: Optional[dict] = None) -> Path:
    """A smaller file with only the model weights and config (no optimiser state)."""
    cpu = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()}  # noqa: E731
    return atomic_save({**header(GAN_FORMAT), "kind": "weights", "model_config": G.cfg.to_dict(),
                        "G": cpu(G), "D": cpu(D), "extra": extra or {}}, path)


def load_checkpoint(path: PathLike, model_config: Optional[VideoGANConfig] = None, training: bool = False) -> dict:
    """Read a GAN file; with ``model_config``, refuse one made for another shape; with ``training``,
    refuse a weights-only file (it has no optimiser state to resume)."""
    state = read_file(path, GAN_FORMAT)
    if training and state.get("kind") != "training":
        raise CheckpointError(f"{path}: holds model weights only (no optimiser state); it cannot resume training")
    if model_config is not None and state["model_config"] != model_config:
        saved = state["model_config"]
        diffs = ", ".join(f"{k} {getattr(saved, k)!r} vs {getattr(model_config, k)!r}"
                          for k in model_config.to_dict() if getattr(saved, k) != getattr(model_config, k))
        raise CheckpointError(f"{path}: checkpoint config does not match the model (checkpoint vs model: {diffs})")
    return state


def load_networks(path: PathLike, state: dict, G, D) -> None:
    """Load a checkpoint's G and D weights into G and D; a one-line error if they do not fit."""
    try:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
    except (KeyError, RuntimeError) as e:
        # torch names the missing or unexpected keys on the lines after its first: keep them, on one line
        reason = textwrap.shorten(" ".join(str(e).split()), 300, placeholder="...")
        raise CheckpointError(f"{path}: weights do not fit the model ({reason})") from None


def load_models(path: PathLike, device: Union[str, torch.device] = "cpu"):
    """(G, D) from a training checkpoint or a weights file, both in eval mode."""
    state = load_checkpoint(path)
    G, D = build_models(state["model_config"])
    load_networks(path, state, G, D)
    return G.to(device).eval(), D.to(device).eval()
