"""Checkpoints: one file with everything needed to resume training exactly.

A checkpoint is a plain dict of tensors and Python values, so it loads with
``torch.load(..., weights_only=True)``: no pickled code runs. It is written to a
temporary file in the same folder and renamed over the old one, so a crash mid-way
never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

from .errors import CheckpointError
from .files import atomic_path, ensure_writable_dir
from .model import VideoGANConfig, build_models
from .train import GANTrainer, TrainConfig

__all__ = [
    "FORMAT",
    "atomic_save",
    "save_checkpoint",
    "load_checkpoint",
    "trainer_from_checkpoint",
    "resume",
    "init_from",
    "load_models",
    "save_weights",
]

FORMAT = "vgan_lib.checkpoint"
FORMAT_VERSION = 1
PathLike = Union[str, os.PathLike]


def _library_version() -> str:
    from . import __version__
    return __version__


def check_writable_dir(folder: PathLike) -> Path:
    """Create ``folder`` if needed; a one-line CheckpointError if files cannot be written there."""
    return ensure_writable_dir(folder, CheckpointError)


def atomic_save(obj, path: PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    check_writable_dir(path.parent)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise CheckpointError(f"{path}: could not write the checkpoint ({e.strerror or e})") from None
    return path


def torch_load_checked(path: PathLike, what: str = "vgan_lib checkpoint"):
    """``torch.load(path, weights_only=True)`` on the CPU, any failure as one CheckpointError line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip errors, unpickling refusals, truncation...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a {what} (torch.load failed: {reason})") from None


def save_checkpoint(path: PathLike, trainer: GANTrainer, extra: Optional[dict] = None) -> Path:
    """Write G, D, both optimisers, the step, both configs, RNG states and the library version."""
    state = trainer.state_dict()
    state.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        kind="training",
        library_version=_library_version(),
        torch_version=str(torch.__version__),
        model_config=trainer.G.cfg.to_dict(),
        torch_rng=torch.get_rng_state(),
        extra=extra or {},
    )
    return atomic_save(state, path)


def save_weights(path: PathLike, G, D, extra: Optional[dict] = None) -> Path:
    """A smaller file with only the model weights and config (no optimiser state)."""
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "weights",
        "library_version": _library_version(),
        "torch_version": str(torch.__version__),
        "model_config": G.cfg.to_dict(),
        "G": {k: v.detach().cpu() for k, v in G.state_dict().items()},
        "D": {k: v.detach().cpu() for k, v in D.state_dict().items()},
        "extra": extra or {},
    }
    return atomic_save(state, path)


def load_checkpoint(path: PathLike) -> dict:
    """Read and validate a checkpoint file (CPU tensors, ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    state = torch_load_checked(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vgan_lib checkpoint (no '{FORMAT}' marker)")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state['format_version']} is newer than this vgan_lib reads ({FORMAT_VERSION})")
    try:
        state["model_config"] = VideoGANConfig.from_dict(state["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint has an invalid model config ({e})") from None
    return state


def _check_config(path, state: dict, cfg: VideoGANConfig) -> None:
    if state["model_config"] != cfg:
        saved = state["model_config"]
        diffs = ", ".join(
            f"{k} {getattr(saved, k)!r} vs {getattr(cfg, k)!r}"
            for k in cfg.to_dict() if getattr(saved, k) != getattr(cfg, k))
        raise CheckpointError(f"{path}: checkpoint config does not match the model (checkpoint vs model: {diffs})")


def resume(trainer: GANTrainer, path: PathLike) -> GANTrainer:
    """Load a training checkpoint into an existing trainer whose model config matches."""
    state = load_checkpoint(path)
    if state.get("kind") != "training":
        raise CheckpointError(f"{path}: holds model weights only (no optimiser state); it cannot resume training")
    _check_config(path, state, trainer.G.cfg)
    trainer.load_state_dict(state)
    torch.set_rng_state(state["torch_rng"])
    return trainer


def _load_networks(path, state: dict, G, D, g_weights) -> None:
    """Load ``g_weights`` into G and the checkpoint's D into D; a one-line error if they do not fit."""
    try:
        if g_weights is None:
            raise KeyError("G")
        G.load_state_dict(g_weights)
        D.load_state_dict(state["D"])
    except (KeyError, RuntimeError) as e:
        # torch names the missing or unexpected keys on the lines after its first: keep them, on one line
        reason = " ".join(str(e).split())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise CheckpointError(f"{path}: weights do not fit the model ({reason})") from None


def init_from(trainer: GANTrainer, path: PathLike) -> GANTrainer:
    """Start a trainer from the G and D weights of a checkpoint or weights file.

    Unlike ``resume``, only the networks are taken: the optimisers, the step count,
    the latent stream and the history start afresh, so this is how a run goes on
    from a shipped model (which holds no optimiser state). From a training
    checkpoint it takes G as trained, not its moving average.
    """
    state = load_checkpoint(path)
    _check_config(path, state, trainer.G.cfg)
    _load_networks(path, state, trainer.G, trainer.D, state.get("G"))
    if trainer.G_ema is not None:
        trainer.G_ema.load_state_dict(trainer.G.state_dict())
    return trainer


def trainer_from_checkpoint(path: PathLike, **overrides) -> GANTrainer:
    """A new trainer built from a checkpoint's configs and state.

    ``overrides`` replace training settings that do not change the maths of a step
    on the CPU, e.g. ``device`` or ``precision``.
    """
    state = load_checkpoint(path)
    cfg = state["model_config"]
    tcfg = TrainConfig.from_dict({**state.get("train_config", {}), **overrides})
    G, D = build_models(cfg)
    trainer = GANTrainer(G, D, tcfg)
    return resume(trainer, path)


def load_models(path: PathLike, device: Union[str, torch.device] = "cpu"):
    """(G, D) from a training checkpoint or a weights file, both in eval mode.

    A run that kept a moving average of G (``ema_decay``) returns the average: it is
    the generator the run drew its samples from.
    """
    state = load_checkpoint(path)
    G, D = build_models(state["model_config"])
    _load_networks(path, state, G, D, state.get("G_ema", state.get("G")))
    return G.to(device).eval(), D.to(device).eval()
