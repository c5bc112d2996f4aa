"""Models shipped with the kit, loaded by name and checked against their manifest.

Each shipped model is a weights file (G and D, no optimiser state) in the package's ``weights/`` folder with a JSON
manifest beside it that records how it was made: the exact commands, data seed, iterations, wall time, library
version, sha256 of the file, and the figures of ``vgan_lib.metrics`` measured on it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Union

import torch

from .checkpoint import load_models
from .errors import CheckpointError

__all__ = ["PRETRAINED_DIR", "available", "manifest", "sha256_of", "load_pretrained"]

PRETRAINED_DIR = Path(__file__).parent / "weights"


def available() -> list:
    """Names of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.json"))


def manifest(name: str) -> dict:
    path = PRETRAINED_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available()) or "none"
        raise CheckpointError(f"{path}: no shipped model called {name!r} (shipped: {known})")
    return json.loads(path.read_text())


def sha256_of(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_pretrained(name: str = "small-synthetic", device: Union[str, torch.device] = "cpu"):
    """(G, D) of a shipped model in eval mode, after checking the file's sha256."""
    info = manifest(name)
    path = PRETRAINED_DIR / info["file"]
    if not path.is_file():
        raise CheckpointError(f"{path}: shipped weights are missing (a git clone without the file?)")
    digest, expected = sha256_of(path), info["sha256"]
    if digest != expected:
        raise CheckpointError(f"{path}: sha256 {digest[:12]}... does not match the manifest's "
                              f"{expected[:12]}...; the file is damaged or was replaced")
    return load_models(path, device=device)
