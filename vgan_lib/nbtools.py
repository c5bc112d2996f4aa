"""What every notebook opens with: folders, seed, device, and checks of its papermill parameters."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional, Union

import torch

from .device import pick_device, seed_everything
from .options import problem

__all__ = ["NotebookContext", "setup", "check_params", "show_source", "check_exercise"]


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
    """Check papermill parameters: one ``ValueError`` line for the first bad one, e.g.
    ``check_params(TrainConfig, batch_size=64)`` (its fields' rules) or ``check_params(steps=(steps, int, 2))``."""
    # A notebook's own parameter is (value, type), (value, type, least), (value, type, choices) or (value, type, None),
    # None allowed.
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


def show_source(obj):
    """The library's own code of ``obj`` (a function, class or method) with the file it lives in, for a notebook."""
    from IPython.display import Markdown

    obj = inspect.unwrap(obj)  # a decorated function's own code, not the decorator's
    where = Path(inspect.getsourcefile(obj)).resolve().relative_to(Path(__file__).resolve().parent.parent)
    return Markdown(f"`{where.as_posix()}`, `{obj.__qualname__}`:\n\n```python\n{inspect.getsource(obj)}```")


def _flat(x) -> list:
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flat(x[k])]
    return [v for item in x for v in _flat(item)] if isinstance(x, (list, tuple)) else [torch.as_tensor(x)]


def check_exercise(tag: str, attempt, expected, exact: bool = False, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Run a student's ``attempt()`` and compare it with ``expected`` (numbers, tensors, or lists and dicts
    of them); a mismatch is one AssertionError line that says what is wrong, ``exact`` asks bit for bit."""
    try:
        got = _flat(attempt())
    except NotImplementedError:
        raise AssertionError(f"Exercise {tag}: not written yet: replace `raise NotImplementedError()`") from None
    except Exception as e:  # the student's own bug, named in one line
        raise AssertionError(f"Exercise {tag}: your code raised {type(e).__name__}: {e}") from None
    want = _flat(expected)
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        shapes = lambda xs: [tuple(x.shape) for x in xs]  # noqa: E731
        raise AssertionError(f"Exercise {tag}: got shapes {shapes(got)}, expected {shapes(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if not (torch.equal(g, w) if exact else torch.allclose(g.double(), w.double(), rtol=rtol, atol=atol)):
            off = (g.double() - w.double()).abs().max().item()
            raise AssertionError(f"Exercise {tag}: value {i} is off by up to {off:.3g}"
                                 + (" (it must match bit for bit)" if exact else ""))
    print(f"Exercise {tag}: correct")
