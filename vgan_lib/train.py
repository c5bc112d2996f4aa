"""Training a VideoGAN: the losses, one iteration of Algorithm 1, and a plain loop.

One iteration, as in the original release:

1. ``d_steps`` times (k; the original: 1): sample z, make fake = G(z), and update D on a real batch and the fake one
   with the halved cross-entropy ``0.5 * (BCE(D(real), 1) + BCE(D(fake), 0))``.
2. Once: update G on the *same* fakes (no new z) towards D calling them real (non-saturating, or the minimax form
   ``log(1 - D(G(z)))``), plus the mask's sparsity penalty ``mask_lambda * mean|m|``. As in the original, G's loss
   is taken from D's output on the last D step's fakes, computed before D's update: D runs on the fakes once per
   iteration, not twice.

Terms the original lacks live in ``vgan_lib.extras``; ``TrainConfig.extras`` names the ones a run adds, and a step
with none computes none."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import extras as extra_terms
from .checkpoint import load_checkpoint, load_networks, save_checkpoint
from .device import PRECISIONS, autocast, pick_device, pick_precision
from .distributed import gather, rank_and_world, wrap
from .model import build_models, generate
from .options import check_fields, option

__all__ = ["TrainConfig", "d_loss", "g_loss", "mask_penalty", "GANTrainer", "ShuffleStream", "fit",
           "resume", "init_from", "trainer_from_checkpoint"]


@dataclass
class TrainConfig:
    """The optimisation settings; the defaults are the original's."""

    batch_size: int = option(64, "videos per batch, per process under torchrun", at_least=1)
    lr: float = option(2e-4, "Adam learning rate of G and D", above=0)
    lr_d: Optional[float] = option(None, "D's own learning rate, when it differs from G's: the two time-scale update "
                                   "rule (Heusel et al. 2017)", above=0, kind=float)
    beta1: float = option(0.5, "Adam beta1", at_least=0, below=1)
    beta2: float = option(0.999, "Adam beta2", at_least=0, below=1)
    mask_lambda: float = option(0.1, "weight lambda of the mask's L1 penalty lambda * mean|m|", at_least=0)
    d_steps: int = option(1, "discriminator steps per generator step (k of Algorithm 1)", at_least=1)
    g_loss: str = option("non_saturating", "generator loss: non_saturating, or saturating (the minimax form)",
                         choices=("non_saturating", "saturating"))
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    precision: str = option("auto", "auto (bf16 on GPUs and CPUs with native bf16, else fp32), fp32, bf16 or fp16 "
                            "(GPU)", choices=PRECISIONS)
    channels_last: bool = option(True, "the channels_last_3d memory layout (faster on the CPUs and GPUs measured)")
    seed: int = option(0, "seed of the weights, the latents and the data order", at_least=0)
    augment: str = option("", "DiffAugment (Zhao et al. 2020) of every clip D sees, comma-separated: colour, "
                          "translation, cutout (vgan_lib.extras); none by default, as in the original")
    extras: dict = field(default_factory=dict)  # name -> weight of terms the original lacks (vgan_lib.extras)

    def __post_init__(self):
        check_fields(self)
        extra_terms.check(self.extras)
        extra_terms.augment_names(self.augment)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})  # older files: fewer


# ---------------------------------------------------------------------------- losses

def d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy on a real and a fake batch of logits (B,), halved."""
    real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return 0.5 * (real + fake)


def g_loss(logits_fake: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's adversarial loss on D's logits (B,) for a fake batch.

    non_saturating: -mean log D(G(z)), strong gradients while D rejects the fakes.
    saturating:      mean log(1 - D(G(z))), the minimax game's own term; its gradient
                     vanishes exactly when G is bad and D is confident.
    """
    if kind == "non_saturating":
        return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
    if kind == "saturating":
        return -F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    raise ValueError(f"unknown generator loss {kind!r}")


def mask_penalty(mask: Optional[torch.Tensor]) -> torch.Tensor:
    """mean |m| over every mask element (B, 1, T, H, W) of the batch (0 for a one-stream generator)."""
    if mask is None:
        return torch.zeros(())
    return mask.float().abs().mean()


# ---------------------------------------------------------------------------- one iteration

class GANTrainer:
    """Holds G, D, their Adam optimisers and the latent stream; ``step`` does one iteration.

    Latents are drawn on the CPU from the trainer's own generator and then moved, so a seed gives the same z on every
    device, and a checkpoint can restore the stream. Under torchrun each rank draws its own latents and
    ``G_run``/``D_run`` are the DDP-wrapped nets."""

    def __init__(self, G: nn.Module, D: nn.Module, cfg: TrainConfig = TrainConfig()):
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.precision = pick_precision(cfg.precision, self.device)
        torch.backends.cudnn.benchmark |= self.device.type == "cuda"  # the shapes repeat: pick the fastest kernels
        autocast(self.device, self.precision)  # fails early on an impossible combination
        self.G, self.D = G.to(self.device), D.to(self.device)
        # only the 3-D convolutions have 5-D weights; the background's 2-D ones keep their layout
        for p in [*G.parameters(), *D.parameters()] if cfg.channels_last else []:
            if p.dim() == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
        self.rank, self.world = rank_and_world()
        self.G_run, self.D_run = wrap(G, self.device), wrap(D, self.device)
        self.new_optimisers()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.z_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003 * self.rank)
        self.step_count = 0
        self.history: list = []

    def new_optimisers(self) -> None:
        betas = (self.cfg.beta1, self.cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=self.cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=self.cfg.lr_d or self.cfg.lr, betas=betas)

    def sample_z(self, n: int) -> torch.Tensor:
        """(n, z_dim) latents from the trainer's own stream, on its device."""
        return torch.randn(n, self.G.cfg.z_dim, generator=self.z_gen).to(self.device)

    def step(self, reals: Union[torch.Tensor, Sequence[torch.Tensor]]) -> dict:
        """One GAN iteration on a real batch (B, 3, T, H, W) in [-1, 1], or ``d_steps`` of them.

        Returns plain floats: ``loss_d``, ``loss_g`` (everything G minimises), ``loss_adv``,
        ``mask_l1``, ``d_real`` and ``d_fake`` (D's mean probability of "real" on the last
        D step's batches, before D's update), and the unweighted value of each extra term.
        """
        cfg, G, D, scaler = self.cfg, self.G_run, self.D_run, self.scaler
        batches = [reals] if isinstance(reals, torch.Tensor) else list(reals)
        if len(batches) != cfg.d_steps:
            raise ValueError(f"step() needs {cfg.d_steps} real batches (d_steps), got {len(batches)}")
        G.train()
        D.train()
        for i, real in enumerate(batches):
            last = i == len(batches) - 1
            real = real.to(self.device, non_blocking=True)
            real = self._layout(real)
            z = self.sample_z(real.shape[0])
            # only the last fakes train G, so only they keep G's graph
            with autocast(self.device, self.precision), torch.set_grad_enabled(last):
                streams = G(z, return_streams=True)
            fake = streams.video
            if cfg.augment:  # the latent stream's generator draws the transforms: a resume repeats them
                real, fake = (self._layout(extra_terms.augment(v, cfg.augment, self.z_gen)) for v in (real, fake))
            with autocast(self.device, self.precision):
                logit_real, logit_fake = D(real), D(fake)
            loss_d = d_loss(logit_real.float(), logit_fake.float())
            self.opt_D.zero_grad(set_to_none=True)
            if not last:
                scaler.scale(loss_d).backward()
                scaler.step(self.opt_D)
                scaler.update()  # fp16's scaler takes one step per optimiser between updates
        # The G step reuses D's logits on the fakes, as the original does: both gradients
        # are taken before either net moves, each reaching only its own net's weights.
        adv = g_loss(logit_fake.float(), cfg.g_loss)
        l1 = mask_penalty(streams.mask).to(adv.device)
        terms = {name: extra_terms.TERMS[name](streams).to(adv.device) for name in cfg.extras}
        loss_g = adv + cfg.mask_lambda * l1 + sum(w * terms[name] for name, w in cfg.extras.items())
        self.opt_G.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward(inputs=list(D.parameters()), retain_graph=True)
        scaler.scale(loss_g).backward(inputs=list(G.parameters()))
        scaler.step(self.opt_D)
        scaler.step(self.opt_G)
        scaler.update()

        self.step_count += 1
        d_prob = lambda logits: torch.sigmoid(logits.detach().float()).mean().item()  # noqa: E731
        record = {"step": self.step_count, "loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_adv": adv.item(),
                  "mask_l1": l1.item(), "d_real": d_prob(logit_real), "d_fake": d_prob(logit_fake),
                  **{name: t.item() for name, t in terms.items()}}
        self.history.append(record)
        return record

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.channels_last and x.dim() == 5:  # videos; a toy GAN's (B, 1) samples have no layout
            return x.contiguous(memory_format=torch.channels_last_3d)
        return x

    # -------------------------------------------------------------- state for checkpoints
    def state_dict(self) -> dict:
        """Everything a resume needs; the history as columns, and every rank's latent stream (``z_gen``)."""
        cols = self.history[0].keys() if self.history else ()
        return {**{part: getattr(self, part).state_dict() for part in _PARTS}, "z_gen": gather(self.z_gen.get_state()),
                "step": self.step_count, "history": {k: [h.get(k) for h in self.history] for k in cols},
                "train_config": self.cfg.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        for part in _PARTS:
            if state.get(part) or part != "scaler":   # a scaler that was off (fp32, bf16) saved {}
                getattr(self, part).load_state_dict(state[part])
        # Adam's saved state carries the old learning rate; the config this trainer was
        # built with wins, so a run resumed with another lr trains at that rate.
        for opt, lr in ((self.opt_G, self.cfg.lr), (self.opt_D, self.cfg.lr_d or self.cfg.lr)):
            for group in opt.param_groups:
                group["lr"] = lr
        # each rank continues its own latent stream (exact when resumed on as many ranks)
        streams = state["z_gen"] if isinstance(state["z_gen"], list) else [state["z_gen"]]
        self.z_gen.set_state(streams[self.rank % len(streams)])
        self.step_count = int(state["step"])
        cols = state.get("history") or {}
        n = len(next(iter(cols.values()))) if cols else 0
        self.history = [{k: cols[k][i] for k in cols if cols[k][i] is not None} for i in range(n)]


_PARTS = ("G", "D", "opt_G", "opt_D", "scaler")   # what a trainer saves with state_dict()


def resume(trainer: GANTrainer, path) -> GANTrainer:
    """Load a training checkpoint into a trainer whose model config matches: exactly where it stopped."""
    state = load_checkpoint(path, trainer.G.cfg, training=True)
    trainer.load_state_dict(state)
    torch.set_rng_state(state["torch_rng"])
    return trainer


def init_from(trainer: GANTrainer, path) -> GANTrainer:
    """Start a trainer from the G and D weights of a checkpoint or weights file (e.g. a shipped model); unlike
    ``resume``, only the networks are taken: optimisers, step count, latent stream and history start afresh."""
    load_networks(path, load_checkpoint(path, trainer.G.cfg), trainer.G, trainer.D)
    return trainer


def trainer_from_checkpoint(path, **overrides) -> GANTrainer:
    """A new trainer built from a checkpoint's configs and state; ``overrides`` replace settings (``device``...)."""
    state = load_checkpoint(path, training=True)
    G, D = build_models(state["model_config"])
    trainer = GANTrainer(G, D, TrainConfig.from_dict({**state.get("train_config", {}), **overrides}))
    return resume(trainer, path)


# ---------------------------------------------------------------------------- data order

class ShuffleStream(torch.utils.data.Sampler):
    """An endless stream of data indices: epoch e is a permutation seeded by (seed, e).

    ``start`` skips that many positions, so a resumed run sees exactly the clips the
    uninterrupted run would have seen next. With ``world`` ranks, rank r reads the positions
    r, r + world, r + 2 world, ... of that one stream: its own share.
    """

    def __init__(self, n: int, seed: int = 0, start: int = 0, rank: int = 0, world: int = 1):
        if n < 1:
            raise ValueError("cannot sample from an empty data set")
        self.n, self.seed, self.start, self.rank, self.world = n, seed, start, rank, world

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.n)
        position = self.start
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            for index in torch.randperm(self.n, generator=g).tolist()[offset:]:
                if position % self.world == self.rank:
                    yield index
                position += 1
            epoch, offset = epoch + 1, 0

    def __len__(self):  # endless; DataLoader only asks for len when told to
        return 2**62


# ---------------------------------------------------------------------------- the loop

@dataclass
class FitResult:
    history: list           # one dict per step (see GANTrainer.step)
    samples: dict           # step -> uint8 array (n, T, H, W, 3) of the fixed latents' videos
    seconds: float
    videos_per_second: float


def fit(trainer: GANTrainer, dataset: torch.utils.data.Dataset, iterations: int, *, num_workers: int = 0,
        fixed_z: Optional[torch.Tensor] = None, sample_every: int = 0, checkpoint_every: int = 0,
        out_dir: Optional[Union[str, Path]] = None, progress: bool = True) -> FitResult:
    """Train until ``trainer.step_count == iterations``.

    Each iteration draws ``d_steps`` real batches from an endless shuffled stream whose position follows from the step
    count, so a resumed run continues the same stream. Every ``sample_every`` steps (and at the end) G draws
    ``fixed_z``; with ``out_dir`` those samples are written as mp4, and ``out_dir/checkpoint.pt`` is refreshed every
    ``checkpoint_every`` steps and at the end. Under torchrun rank 0 alone writes and shows progress."""
    from .video import to_uint8, write_video_grid

    cfg = trainer.cfg
    per_step = cfg.batch_size * cfg.d_steps * trainer.world   # clips all ranks read in one iteration
    sampler = ShuffleStream(len(dataset), cfg.seed, trainer.step_count * per_step, trainer.rank, trainer.world)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                                         num_workers=num_workers, pin_memory=trainer.device.type == "cuda")
    out = Path(out_dir) if out_dir is not None else None
    samples: dict = {}

    def take_samples():
        if fixed_z is not None and trainer.rank == 0:
            samples[trainer.step_count] = frames = to_uint8(generate(trainer.G, fixed_z).video)
            if out is not None:
                path = out / "samples" / f"step_{trainer.step_count:07d}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_video_grid(path, frames)

    def save():
        if out is not None:
            state = trainer.state_dict()  # on every rank: it gathers their latent streams
            if trainer.rank == 0:
                save_checkpoint(out / "checkpoint.pt", state, trainer.G.cfg)

    todo = max(0, iterations - trainer.step_count)
    # a labelled data set yields (clips, labels); the GAN only needs the clips
    batches = (b[0] if isinstance(b, (tuple, list)) else b for b in loader)
    t0 = time.perf_counter()
    with tqdm(total=iterations, initial=trainer.step_count, desc="train", unit="it",
              disable=not progress or trainer.rank != 0, dynamic_ncols=True) as bar:
        for _ in range(todo):
            rec = trainer.step([next(batches) for _ in range(cfg.d_steps)])
            bar.update(1)
            if trainer.step_count % 10 == 0 or trainer.step_count == iterations:
                bar.set_postfix({k: f"{rec[k]:.3f}" for k in ("loss_d", "loss_g", "d_real", "d_fake")})
            if sample_every and trainer.step_count % sample_every == 0:
                take_samples()
            if checkpoint_every and trainer.step_count % checkpoint_every == 0:
                save()
    seconds = time.perf_counter() - t0
    if trainer.step_count not in samples:
        take_samples()
    save()
    vps = todo * per_step / seconds if seconds > 0 and todo else math.nan
    return FitResult(history=trainer.history, samples=samples, seconds=seconds, videos_per_second=vps)
