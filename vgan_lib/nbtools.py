"""Small helpers every notebook opens with: paths, seed, device, and parameter checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .device import pick_device, seed_everything

__all__ = ["NotebookContext", "setup", "check_params", "repo_root"]


def repo_root() -> Path:
    """The kit's top folder (the one holding ``vgan_lib/`` and ``data/``)."""
    return Path(__file__).resolve().parent.parent


@dataclass
class NotebookContext:
    root: Path
    data_dir: Path
    runs_dir: Path
    device: torch.device
    seed: int

    def __str__(self) -> str:
        return (f"data {self.data_dir.relative_to(self.root)}/ | "
                f"runs {self.runs_dir.relative_to(self.root)}/ | device {self.device.type} | seed {self.seed}")


def setup(seed: int = 0, device: str = "auto", threads: int | None = None) -> NotebookContext:
    """Seed everything, choose the device and name the kit's folders.

    ``threads`` caps torch's CPU threads (the ``VGAN_THREADS`` environment variable
    does the same), which keeps runs repeatable when the machine is shared.
    """
    threads = threads or int(os.environ.get("VGAN_THREADS", "0") or 0)
    if threads:
        torch.set_num_threads(threads)
    seed_everything(seed)
    root = repo_root()
    ctx = NotebookContext(root=root, data_dir=root / "data", runs_dir=root / "runs",
                          device=pick_device(device), seed=seed)
    ctx.runs_dir.mkdir(exist_ok=True)
    return ctx


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "True or False"}


def check_params(**params) -> None:
    """Check papermill parameters: ``check_params(iterations=(iterations, int), ...)``.

    Each value is ``(value, type)`` or ``(value, type, allow_none)``. An int is
    accepted where a float is wanted. Raises one ``TypeError`` line per bad value,
    e.g. ``parameter 'iterations' must be an integer, got str 'ten'``.
    """
    for name, spec in params.items():
        value, kind = spec[0], spec[1]
        allow_none = len(spec) > 2 and spec[2]
        if value is None and allow_none:
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            want = _TYPE_NAMES.get(kind, kind.__name__) + (" or None" if allow_none else "")
            raise TypeError(f"parameter {name!r} must be {want}, got {type(value).__name__} {value!r}")
