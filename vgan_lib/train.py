"""Training a VideoGAN: the losses, one GAN step (Algorithm 1), and a plain loop.

One iteration, as in the original release:

1. ``d_steps`` times (default 1): sample z, make fake = G(z); update D on a real
   batch and on fake.detach() with the halved cross-entropy
   ``0.5 * (BCE(D(real), 1) + BCE(D(fake), 0))``.
2. Once: update G on the *same* fake batch (no new z), pushing D(fake) towards
   "real" (non-saturating) or minimising log(1 - D(fake)) (the minimax form), plus
   the mask sparsity penalty ``mask_lambda * mean|m|`` (and, if asked, the blend penalty
   ``mask_binary * mean m(1 - m)`` and the motion-seeking term ``motion_seeking * mean|z1 - z2|
   / mean|c1 - c2|`` on the change maps c of two halves of the batch; the original has neither).
   With ``flicker`` > 0, G's loss gets ``flicker * mean m[t+1] |f[t+1] - f[t]|``, the foreground's
   change where it shows.
   With ``r1`` > 0, D's loss also gets the R1 penalty ``r1 / 2 * mean ||grad_x D(x)||^2`` on the
   real batch (not in the original either).
"""

from __future__ import annotations

import math
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .device import autocast, pick_device
from .quality import change_map

__all__ = [
    "TrainConfig",
    "d_loss",
    "g_loss",
    "mask_penalty",
    "blend_penalty",
    "motion_seeking_penalty",
    "flicker_penalty",
    "r1_penalty",
    "GANTrainer",
    "ShuffleStream",
    "fit",
]


@dataclass
class TrainConfig:
    """Optimisation settings; the defaults are the original's."""

    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    mask_lambda: float = 0.1
    d_steps: int = 1
    g_loss: str = "non_saturating"   # or "saturating" (the minimax form)
    device: str = "auto"
    precision: str = "fp32"          # "fp32", "bf16" (CPU or CUDA) or "fp16" (GPU)
    channels_last: bool = False      # torch.channels_last_3d memory layout
    seed: int = 0
    ema_decay: float = 0.0           # > 0 keeps an exponential moving average of G for sampling
    mask_binary: float = 0.0         # weight of the blend penalty mean m(1 - m); 0 in the original
    motion_seeking: float = 0.0      # weight of the motion-seeking term; 0 in the original
    flicker: float = 0.0             # weight of the foreground flicker penalty; 0 in the original
    lr_d: Optional[float] = None     # D's learning rate; None: the same as G's (lr), as in the original
    r1: float = 0.0                  # weight gamma of D's R1 gradient penalty on real clips; 0 in the original

    def __post_init__(self):
        if self.g_loss not in ("non_saturating", "saturating"):
            raise ValueError(f"g_loss must be 'non_saturating' or 'saturating', got {self.g_loss!r}")
        if self.d_steps < 1:
            raise ValueError(f"d_steps must be at least 1, got {self.d_steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.mask_binary < 0:
            raise ValueError(f"mask_binary must be at least 0, got {self.mask_binary}")
        if self.motion_seeking < 0:
            raise ValueError(f"motion_seeking must be at least 0, got {self.motion_seeking}")
        if self.lr_d is not None and not self.lr_d > 0:
            raise ValueError(f"lr_d must be above 0, got {self.lr_d}")
        if self.flicker < 0:
            raise ValueError(f"flicker must be at least 0, got {self.flicker}")
        if self.r1 < 0:
            raise ValueError(f"r1 must be at least 0, got {self.r1}")
        if self.r1 and self.precision == "fp16":
            raise ValueError("r1 needs precision fp32 or bf16: its input gradient is not loss-scaled")
        if self.motion_seeking and self.batch_size < 2:
            raise ValueError("motion_seeking needs a batch of at least 2 videos to compare")

    @property
    def d_lr(self) -> float:
        """The discriminator's learning rate: ``lr_d``, or ``lr`` when that is None."""
        return self.lr if self.lr_d is None else self.lr_d

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------------------- losses

def d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy on a real and a fake batch, halved."""
    real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return 0.5 * (real + fake)


def g_loss(logits_fake: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's adversarial loss on D's logits for a fake batch.

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
    """mean |m| over every mask element in the batch (0 for a one-stream generator)."""
    if mask is None:
        return torch.zeros(())
    return mask.float().abs().mean()


def blend_penalty(mask: Optional[torch.Tensor]) -> torch.Tensor:
    """mean m(1 - m) over the mask (0 for a one-stream generator): 0 where every value is 0 or 1.

    The L1 penalty pulls every mask value towards 0, open or not. This one pulls values
    below 1/2 down and values above 1/2 up, so it decides the mask without shutting it:
    where m stays between 0 and 1, the foreground shows through the background faintly,
    and any flicker of the foreground becomes flicker of the video.
    """
    if mask is None:
        return torch.zeros(())
    m = mask.float()
    return (m * (1 - m)).mean()


def motion_seeking_penalty(video: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """mean|z1 - z2| / (mean|c1 - c2| + eps), the first half of the batch against the second.

    video: (B, 3, T, H, W) in [-1, 1]; z: (B, z_dim); c is a video's change map
    (``quality.change_map``: each pixel's colour-mean |x[t+1] - x[t]| in [0, 1] units,
    (T-1, H, W)), the same map the motion overlap compares. Mode seeking
    (Mao et al. 2019) asks distinct z for distinct images; here it asks them for distinct
    motion, so that two videos do not change in the same places at the same moments
    while their backgrounds differ. Small when the motion follows z, large when it does not.
    """
    n = video.shape[0] // 2
    change = change_map(video)
    motion_gap = (change[:n] - change[n:2 * n]).abs().mean()
    z_gap = (z[:n] - z[n:2 * n]).abs().mean()
    return z_gap / (motion_gap + eps)


def flicker_penalty(foreground: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """mean m[t+1] * |f[t+1] - f[t]| (colour-mean, [0, 1] pixel units); 0 for a one-stream generator.

    foreground: (B, 3, T, H, W) in [-1, 1]; mask: (B, 1, T, H, W) in [0, 1].
    A change of the composite m*f + (1-m)*b from frame to frame has two parts: the
    mask moving over a still scene, (m[t+1] - m[t]) * (f[t] - b), and the foreground
    changing where it is shown, m[t+1] * (f[t+1] - f[t]). A rigid object sliding over a
    still background needs only the first (and the second along its edges). This
    penalises the second, the shimmer of a foreground that changes wherever the
    mask lets it through, and leaves the foreground free where the mask is shut.
    """
    if mask is None:
        return torch.zeros(())
    f = foreground.float() / 2   # [-1, 1] -> differences in [0, 1] pixel units
    return (mask[:, :, 1:].float() * (f[:, :, 1:] - f[:, :, :-1]).abs().mean(dim=1, keepdim=True)).mean()


def r1_penalty(logits_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over the batch of ||d D(x) / d x||^2 at the real clips x (Mescheder et al. 2018).

    logits_real: (B,) D's logits for ``real`` (B, 3, T, H, W), which must require grad.
    The graph is kept, so the penalty trains D. A discriminator that is sure of every
    real clip gets steep around them and hands G a gradient that says little but
    "not real"; the penalty keeps D flat on the data, where G's fakes must end up.
    """
    grad, = torch.autograd.grad(logits_real.float().sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(dim=1).mean()


# ---------------------------------------------------------------------------- one step

def _to_device(module: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    module = module.to(device)
    if channels_last:
        # only the 3-D convolutions have 5-D weights; the background's 2-D ones keep their layout
        for p in module.parameters():
            if p.dim() == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return module


def _frozen_copy(module: nn.Module) -> nn.Module:
    copy = deepcopy(module).eval()
    copy.requires_grad_(False)
    return copy


@torch.no_grad()
def _ema_update(average: nn.Module, live: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * live, for weights and BN statistics."""
    for a, p in zip(average.parameters(), live.parameters()):
        a.lerp_(p, 1.0 - decay)
    for a, b in zip(average.buffers(), live.buffers()):
        if a.dtype.is_floating_point:
            a.lerp_(b, 1.0 - decay)
        else:
            a.copy_(b)


def _as_batches(reals) -> list:
    return [reals] if isinstance(reals, torch.Tensor) else list(reals)


class GANTrainer:
    """Holds G, D, their Adam optimisers and the latent sampler; ``step`` does one iteration.

    Latents are drawn on the CPU from the trainer's own generator and then moved, so
    a seed gives the same z on every device, and a checkpoint can restore the stream.
    """

    def __init__(self, G: nn.Module, D: nn.Module, cfg: TrainConfig = TrainConfig()):
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        autocast(self.device, cfg.precision)  # fails early on an impossible combination
        self.memory_format = torch.channels_last_3d if cfg.channels_last else torch.contiguous_format
        self.G = _to_device(G, self.device, cfg.channels_last)
        self.D = _to_device(D, self.device, cfg.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.d_lr, betas=betas)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.z_gen = torch.Generator().manual_seed(cfg.seed)
        self.step_count = 0
        self.history: list = []
        # The original samples from G itself. An average of G's recent weights
        # (Karras et al. 2018; Yazici et al. 2019) draws the same videos with less of the
        # step-to-step jitter of adversarial training; it is never trained, only tracked.
        self.G_ema = _frozen_copy(self.G) if cfg.ema_decay > 0 else None

    @property
    def z_dim(self) -> int:
        return self.G.cfg.z_dim

    def sample_z(self, n: int) -> torch.Tensor:
        """(n, z_dim) latents from the trainer's own stream, on its device."""
        return torch.randn(n, self.z_dim, generator=self.z_gen).to(self.device)

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def step(self, reals: Union[torch.Tensor, Sequence[torch.Tensor]]) -> dict:
        """One GAN iteration.

        reals: a real batch (B, 3, T, H, W) in [-1, 1], or ``d_steps`` of them.
        Returns plain floats: ``loss_d``, ``loss_g`` (adversarial + penalty),
        ``loss_adv``, ``mask_l1``, ``mask_blend``, ``flicker``, ``d_real`` and ``d_fake`` (D's mean probability of
        "real" on the last D step's batches, before D's update), and with ``r1`` on, ``r1``
        (the unweighted penalty on the last real batch).
        """
        cfg, G, D = self.cfg, self.G, self.D
        batches = _as_batches(reals)
        if len(batches) != cfg.d_steps:
            raise ValueError(f"step() needs {cfg.d_steps} real batches (d_steps), got {len(batches)}")
        G.train()
        D.train()
        amp = lambda: autocast(self.device, cfg.precision)  # noqa: E731

        D.requires_grad_(True)
        for i, real in enumerate(batches):
            real = self._to_device(real)
            if cfg.r1:
                real.requires_grad_(True)
            z = self.sample_z(real.shape[0])
            last = i == len(batches) - 1
            # only the last fake batch is reused by the G step, so only it keeps its graph
            with amp(), torch.set_grad_enabled(last):
                streams = G(z, return_streams=True)
            with amp():
                logit_real = D(real)
                logit_fake = D(streams.video.detach())
                loss_d = d_loss(logit_real.float(), logit_fake.float())
            if cfg.r1:
                r1 = r1_penalty(logit_real, real)
                loss_d = loss_d + cfg.r1 / 2 * r1
            self.opt_D.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_D)

        # G step on the same fakes; D's weights need no gradients here
        D.requires_grad_(False)
        with amp():
            logit_fake_g = D(streams.video)
            adv = g_loss(logit_fake_g.float(), cfg.g_loss)
            l1 = mask_penalty(streams.mask).to(adv.device)
            blend = blend_penalty(streams.mask).to(adv.device)
            flicker = flicker_penalty(streams.foreground, streams.mask).to(adv.device)
            loss_g = adv + cfg.mask_lambda * l1
            if cfg.mask_binary:
                loss_g = loss_g + cfg.mask_binary * blend
            if cfg.flicker:
                loss_g = loss_g + cfg.flicker * flicker
            if cfg.motion_seeking:
                loss_g = loss_g + cfg.motion_seeking * motion_seeking_penalty(streams.video, z).to(adv.device)
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        D.requires_grad_(True)
        if self.G_ema is not None:
            _ema_update(self.G_ema, G, cfg.ema_decay)

        self.step_count += 1
        record = {
            "step": self.step_count,
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "loss_adv": adv.item(),
            "mask_l1": l1.item(),
            "mask_blend": blend.item(),
            "flicker": flicker.item(),
            "d_real": torch.sigmoid(logit_real.float()).mean().item(),
            "d_fake": torch.sigmoid(logit_fake.float()).mean().item(),
        }
        if cfg.r1:
            record["r1"] = r1.item()
        self.history.append(record)
        return record

    @property
    def sampler(self) -> nn.Module:
        """The generator to draw videos from: the moving average when kept, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def generate(self, z: torch.Tensor, return_streams: bool = False):
        """``sampler`` in eval mode (BatchNorm running statistics) on given latents (n, z_dim)."""
        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            with autocast(self.device, self.cfg.precision):
                out = G(z.to(self.device), return_streams=return_streams)
        finally:
            G.train(was_training)
        if return_streams:
            return type(out)(*(None if t is None else t.float().cpu() for t in out))
        return out.float().cpu()

    # -------------------------------------------------------------- state for checkpoints
    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "scaler": self.scaler.state_dict(),
            "z_gen": self.z_gen.get_state(),
            "step": self.step_count,
            "history": {k: [h[k] for h in self.history] for k in (self.history[0] if self.history else {})},
            "train_config": self.cfg.to_dict(),
            **({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        # Adam's saved state carries the old learning rate; the config this trainer was
        # built with wins, so a run resumed with another --lr trains at that rate.
        for opt, lr in ((self.opt_G, self.cfg.lr), (self.opt_D, self.cfg.d_lr)):
            for group in opt.param_groups:
                group["lr"] = lr
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.z_gen.set_state(state["z_gen"])
        self.step_count = int(state["step"])
        cols = state.get("history") or {}
        n = len(next(iter(cols.values()))) if cols else 0
        self.history = [{k: cols[k][i] for k in cols} for i in range(n)]
        if self.G_ema is not None:
            # a run that kept no average starts one from the weights it resumes with
            self.G_ema.load_state_dict(state.get("G_ema", state["G"]))


# ---------------------------------------------------------------------------- data order

class ShuffleStream(torch.utils.data.Sampler):
    """An endless stream of data indices: epoch e is a permutation seeded by (seed, e).

    ``start`` skips that many indices, so a resumed run sees exactly the clips the
    uninterrupted run would have seen next.
    """

    def __init__(self, n: int, seed: int = 0, start: int = 0):
        if n < 1:
            raise ValueError("cannot sample from an empty data set")
        self.n, self.seed, self.start = n, seed, start

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.n)
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n, generator=g).tolist()
            yield from order[offset:]
            epoch, offset = epoch + 1, 0

    def __len__(self):  # endless; DataLoader only asks for len when told to
        return 2**62


# ---------------------------------------------------------------------------- the loop

@dataclass
class FitResult:
    history: list           # one dict per step (see GANTrainer.step)
    samples: dict           # step -> uint8 array (n, T, H, W, 3) of the fixed latents
    seconds: float
    videos_per_second: float


def _clips_of(batch):
    # a labelled data set yields (clips, labels); the GAN only needs the clips
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def fit(
    trainer: GANTrainer,
    dataset: torch.utils.data.Dataset,
    iterations: int,
    *,
    num_workers: int = 0,
    fixed_z: Optional[torch.Tensor] = None,
    sample_every: int = 0,
    checkpoint_every: int = 0,
    out_dir: Optional[Union[str, Path]] = None,
    progress: bool = True,
    on_step: Optional[Callable[[dict], None]] = None,
    data_seed: Optional[int] = None,
) -> FitResult:
    """Train until ``trainer.step_count == iterations``.

    Each iteration draws ``d_steps`` real batches from an endless shuffled stream whose
    position follows from the step count, so resuming from a checkpoint continues
    the same stream. Every ``sample_every`` steps (and at the end) G draws
    ``fixed_z``; with ``out_dir`` those samples are written as mp4 and the
    checkpoint ``out_dir/checkpoint.pt`` is refreshed every ``checkpoint_every``
    steps and at the end.
    """
    from . import checkpoint as ckpt  # local: checkpoint imports this module
    from .video import to_uint8, write_video_grid

    cfg = trainer.cfg
    per_step = cfg.batch_size * cfg.d_steps
    seed = cfg.seed if data_seed is None else data_seed
    sampler = ShuffleStream(len(dataset), seed=seed, start=trainer.step_count * per_step)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
        num_workers=num_workers, pin_memory=trainer.device.type == "cuda",
        persistent_workers=False,
    )
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        (out / "samples").mkdir(parents=True, exist_ok=True)

    samples: dict = {}

    def take_samples():
        if fixed_z is None:
            return
        frames = to_uint8(trainer.generate(fixed_z))
        samples[trainer.step_count] = frames
        if out is not None:
            write_video_grid(out / "samples" / f"step_{trainer.step_count:07d}.mp4", frames)

    start_step = trainer.step_count
    todo = max(0, iterations - start_step)
    batches = iter(loader)
    t0 = time.perf_counter()
    bar = tqdm(total=iterations, initial=start_step, desc="train", unit="it", disable=not progress, dynamic_ncols=True)
    try:
        for _ in range(todo):
            reals = [_clips_of(next(batches)) for _ in range(cfg.d_steps)]
            rec = trainer.step(reals)
            bar.update(1)
            if trainer.step_count % 10 == 0 or trainer.step_count == iterations:
                bar.set_postfix(loss_d=f"{rec['loss_d']:.3f}", loss_g=f"{rec['loss_g']:.3f}",
                                d_real=f"{rec['d_real']:.2f}", d_fake=f"{rec['d_fake']:.2f}")
            if on_step is not None:
                on_step(rec)
            if sample_every and trainer.step_count % sample_every == 0:
                take_samples()
            if out is not None and checkpoint_every and trainer.step_count % checkpoint_every == 0:
                ckpt.save_checkpoint(out / "checkpoint.pt", trainer)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if fixed_z is not None and trainer.step_count not in samples:
        take_samples()
    if out is not None:
        ckpt.save_checkpoint(out / "checkpoint.pt", trainer)
    vps = todo * per_step / seconds if seconds > 0 and todo else math.nan
    return FitResult(history=trainer.history, samples=samples, seconds=seconds, videos_per_second=vps)
