"""What every notebook opens with: folders, seed, device, and checks of its papermill parameters."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional, Union

import torch

from .device import pick_device, seed_everything
from .options import problem

__all__ = ["NotebookContext", "setup", "check_params"]


@dataclass
class NotebookContext:
    root: Path
    data_dir: Path
    runs_dir: Path
    device: torch.device
    seed: int

    def __str__(self) -> str:
        return f"data {self.data_dir}/ | runs {self.runs_dir}/ | device {self.device.type} | seed {self.seed}"


def setup(seed: int = 0, device: str = "auto", threads: Optional[int] = None,
          root: Union[str, Path] = ".") -> NotebookContext:
    """Seed everything, choose the device and name ``root/data`` and ``root/runs`` (the course's notebooks
    run in ``notebooks/`` and pass ``root=".."``). ``threads`` (or ``VGAN_THREADS``) caps torch's CPU threads."""
    threads = threads or int(os.environ.get("VGAN_THREADS", "0") or 0)
    if threads:
        torch.set_num_threads(threads)
    seed_everything(seed)
    root = Path(root)
    ctx = NotebookContext(root=root, data_dir=root / "data", runs_dir=root / "runs",
                          device=pick_device(device), seed=seed)
    ctx.runs_dir.mkdir(exist_ok=True)
    return ctx


def check_params(config=None, **params) -> None:
    """Check papermill parameters: one ``ValueError`` line for the first bad one. With a config dataclass each
    keyword is one of its fields and follows that field's rule (``check_params(TrainConfig, batch_size=64)``);
    without, it is the notebook's own: ``(value, type)``, ``(value, type, least)``, ``(value, type, choices)``
    or ``(value, type, None)`` (None allowed), e.g. ``steps=(steps, int, 2)``."""
    rules = {f.name: {**f.metadata, "none_ok": f.default is None} for f in fields(config)} if config else {}
    for name, spec in params.items():
        if config is not None:
            if name not in rules:
                raise ValueError(f"parameter {name!r} is not a field of {config.__name__}")
            meta, value = rules[name], spec
        else:
            value, kind, rule = (tuple(spec) + (False,))[:3]
            meta = dict(kind=kind, choices=tuple(rule) if isinstance(rule, (tuple, list)) else None,
                        at_least=rule if type(rule) in (int, float) else None, above=None, below=None,
                        none_ok=rule is None)
        bad = problem(value, meta)
        if bad:
            raise ValueError(f"parameter {name!r} {bad}")
