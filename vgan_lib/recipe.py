"""Training recipes: a whole run in one small TOML file that ``vgan train --recipe FILE`` runs.

A recipe names the model (``[model]``: a preset and any ``VideoGANConfig`` field), the data (``[data]``: a golf-format
``list`` and ``root``, and ``synthetic``, a ``SyntheticSpec`` to make that set first), the ``TrainConfig`` settings of
every phase (``[train]``), and the phases (``[[phase]]``: its length in ``steps``, the settings that change, and
``new_optimisers = true`` to start Adam afresh); ``threads`` fixes torch's CPU threads; ``history_every = N`` keeps
the videos of fixed latents and the figures at step 0 and every N steps (``vgan_lib.history``); ``[data] in_memory =
true`` decodes every clip once and keeps it in memory (uint8: 20,000 small clips take 1 GB).
``recipes/small-synthetic.toml``, the shipped model's schedule, is a complete example.
Plain ``vgan train`` with options is a recipe of one phase; ``resume`` continues in whichever phase the run stopped."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import List, Optional

import torch

from .checkpoint import load_checkpoint
from .device import usable_device
from .distributed import rank_and_world
from .errors import UsageError
from .files import read_text
from .history import FIGURE_CLIPS, headline, kept_steps, record
from .latent import sample_latents
from .metrics import real_clips
from .model import build_models, get_config
from .options import problem
from .synthetic import SyntheticSpec
from .train import GANTrainer, TrainConfig, fit, init_from, resume

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Phase", "Recipe", "load_recipe", "run_recipe"]

WHOLE = {"kind": int, "at_least": 1, "none_ok": False}  # the rule of a phase's steps and of threads


@dataclass
class Phase:
    steps: int                      # this phase's length
    config: TrainConfig
    new_optimisers: bool = False


@dataclass
class Recipe:
    model: dict                     # {"preset": ..., overrides}
    data: dict                      # {"list": ..., "root": ..., "synthetic": {...}}
    phases: List[Phase]
    threads: Optional[int] = None
    init: Optional[str] = None      # weights to start from instead of the seed's random ones
    history_every: int = 0          # keep a snapshot of fixed latents and the figures every so many steps (0: none)

    @property
    def model_config(self):
        return get_config(**self.model)

    def ends(self) -> List[int]:
        """The step at which each phase ends."""
        return list(accumulate(p.steps for p in self.phases))


def load_recipe(path) -> Recipe:
    """Read and check a recipe file; every mistake is one UsageError line naming the file and key."""
    path = Path(path)
    try:
        raw = tomllib.loads(read_text(path, "recipe", UsageError))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not a TOML recipe ({e})") from None
    unknown = set(raw) - {"model", "data", "train", "phase", "threads", "init", "description", "history_every"}
    if unknown:
        raise UsageError(f"{path}: unknown recipe key {sorted(unknown)[0]!r}")
    try:
        model, data, base = dict(raw.get("model", {})), dict(raw.get("data", {})), dict(raw.get("train", {}))
        get_config(**model)
        if "list" not in data or set(data) - {"list", "root", "synthetic", "in_memory"}:
            raise ValueError("[data] needs 'list' and takes only 'list', 'root', 'synthetic' and 'in_memory'")
        if not isinstance(data.get("in_memory", False), bool):
            raise ValueError("[data] 'in_memory' must be true or false")
        if "synthetic" in data:
            data["synthetic"] = SyntheticSpec(**data["synthetic"])
        for key in ("threads", "history_every"):
            if raw.get(key) is not None and (bad := problem(raw[key], WHOLE)):
                raise ValueError(f"{key!r} {bad}")
        if not raw.get("phase"):
            raise ValueError("a recipe needs at least one [[phase]] with its 'steps'")
        phases = []
        for i, p in enumerate(raw["phase"], 1):
            p = dict(p)
            steps, fresh = p.pop("steps", None), p.pop("new_optimisers", False)
            if bad := problem(steps, WHOLE):
                raise ValueError(f"phase {i}: 'steps' {bad}")
            phases.append(Phase(steps, _config(f"phase {i}", {**base, **p}), bool(fresh)))
    except (TypeError, ValueError) as e:
        raise UsageError(f"{path}: {e}") from None
    return Recipe(model, data, phases, raw.get("threads"), raw.get("init"), raw.get("history_every") or 0)


def _config(where: str, settings: dict) -> TrainConfig:
    try:
        return TrainConfig(**settings)
    except TypeError as e:  # an unknown setting: name it
        raise ValueError(f"{where}: {str(e).split('__init__() ')[-1]}") from None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _dataset(recipe: Recipe, progress: bool):
    from .data import GolfClips
    from .synthetic import make_synthetic

    data, cfg = recipe.data, recipe.model_config
    if "synthetic" in data:
        if rank_and_world()[0] == 0:  # one writer; the other ranks wait for it
            make_synthetic(Path(data["list"]).parent, data["synthetic"], progress=progress)
        if rank_and_world()[1] > 1:
            torch.distributed.barrier()
    return GolfClips(data["list"], data.get("root"), frames=cfg.frames, size=cfg.size,
                     in_memory=data.get("in_memory", False), progress=progress and rank_and_world()[0] == 0)


def run_recipe(recipe: Recipe, out, *, resume_run: bool = False, workers: int = 0, sample_every: int = 0,
               checkpoint_every: int = 0, progress: bool = True, log=print, device: Optional[str] = None):
    """Run (or, with ``resume_run``, continue) every phase of ``recipe`` into the folder ``out``; return the trainer.
    ``device`` overrides the recipe's (torchrun gives each rank its own); only rank 0 logs."""
    # Between phases the trainer is rebuilt with the next phase's settings and the full state passed over, exactly
    # as a resume from the checkpoint file would, so a run stopped anywhere repeats bit for bit on the CPU.
    out, cfg = Path(out), recipe.model_config
    rank, world = rank_and_world()
    log = log if rank == 0 else (lambda *_: None)
    phases = [replace(p, config=replace(p.config, device=device)) for p in recipe.phases] if device else recipe.phases
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not resume_run:
        raise UsageError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    for phase in phases:  # a device or precision this machine lacks: one line, before any work
        usable_device(phase.config.device, phase.config.precision)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    data = _dataset(recipe, progress)
    workers = 0 if data.clips is not None else workers  # clips in memory need no loader processes
    first = phases[0].config
    if len(data) < first.batch_size:
        raise UsageError(f"{recipe.data['list']} lists {len(data)} clips, fewer than one batch of {first.batch_size}")
    ends = recipe.ends()
    trainer = GANTrainer(*build_models(cfg, seed=first.seed), first)
    if ckpt.exists():
        step = int(load_checkpoint(ckpt, cfg, training=True)["step"])
        now = next((i for i, end in enumerate(ends) if step < end), len(ends) - 1)
        trainer = GANTrainer(trainer.G, trainer.D, phases[now].config)
        resume(trainer, ckpt)
        log(f"resumed from {ckpt} at step {trainer.step_count}")
    elif recipe.init:
        init_from(trainer, recipe.init)
        log(f"started from the weights of {recipe.init}")
    log(f"model {cfg}; device {trainer.device}, {trainer.precision}; {len(data)} clips; {ends[-1]} steps in "
        f"{len(ends)} phase(s); {world} process(es), batch {first.batch_size} each, {first.batch_size * world} in all")
    fixed_z = sample_latents(16, cfg.z_dim, first.seed + 1)
    every = recipe.history_every
    if every and rank == 0:  # the same real clips at every step
        real = real_clips(recipe.data["list"], cfg, FIGURE_CLIPS, seed=0, root=recipe.data.get("root"))

    def keep_history(step: int):
        log(f"history at step {step}: {headline(record(trainer.G, out / 'history', step, real))}")

    missed = str(trainer.step_count) not in kept_steps(out / "history")  # step 0, or one a stopped run had no time for
    if every and rank == 0 and trainer.step_count % every == 0 and missed:
        keep_history(trainer.step_count)
    for i, (phase, end) in enumerate(zip(phases, ends)):
        start = end - phase.steps
        if trainer.step_count >= end:
            continue
        if phase.config != trainer.cfg or (phase.new_optimisers and trainer.step_count == start):
            state = trainer.state_dict()
            trainer = GANTrainer(trainer.G, trainer.D, phase.config)
            trainer.load_state_dict(state)
            if phase.new_optimisers and trainer.step_count == start:
                trainer.new_optimisers()
            if len(phases) > 1:
                log(f"phase {i + 1}: steps {start}-{end}: {phase.config}")
        while trainer.step_count < end:  # up to the next history step, or the phase's end
            stop = min(end, (trainer.step_count // every + 1) * every) if every else end
            fit(trainer, data, stop, num_workers=workers, fixed_z=fixed_z, sample_every=sample_every,
                checkpoint_every=checkpoint_every, out_dir=out, progress=progress)
            if every and rank == 0 and (stop % every == 0 or stop == ends[-1]):
                keep_history(stop)
    return trainer

