"""The VideoGAN networks: two-stream generator, one-stream generator, discriminator.

Read top to bottom. Shapes follow PyTorch's video layout ``(B, C, T, H, W)``. With the ``paper`` preset (64x64 pixels,
32 frames, z of 100, width 64) the modules match the original Torch7 release layer by layer:

* ``TwoStreamGenerator``: 16,245,383 parameters (foreground trunk 12,651,328 + video head 12,291 + mask head 4,097
  + background 3,577,667); ``Discriminator``: 11,041,473 (trunk 11,025,088 + 1-logit head 16,385).

Every network has five (transposed) convolutions. The first generator layer turns the 1x1x1 latent into a
``(T/16, H/16, W/16)`` block and four stride-2 layers double time and space, so frames and size must be multiples of
16. The discriminator mirrors this. Smaller presets shrink the widths and the video, never the depth."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple, Optional

import torch
from torch import nn
from torch.nn import functional as F

from .options import check_fields, option

__all__ = ["VideoGANConfig", "PRESETS", "get_config", "Streams", "TwoStreamGenerator", "OneStreamGenerator",
           "Discriminator", "minibatch_std", "MinibatchDiscrimination", "ActionClassifier", "build_generator",
           "build_models", "init_weights", "count_parameters", "generate"]


@dataclass(frozen=True)
class VideoGANConfig:
    """Sizes of the networks and the videos they make."""

    frames: int = option(32, "T, frames per clip, a multiple of 16", at_least=16)
    size: int = option(64, "H = W, pixels per side, a multiple of 16", at_least=16)
    z_dim: int = option(100, "length of the latent z ~ N(0, I)", at_least=1)
    width: int = option(64, "channels of the widest-resolution hidden layer; the others have 2x, 4x, 8x "
                            "(64: the paper's 64-128-256-512)", at_least=1)
    generator: str = option("two_stream", "two_stream (foreground, mask, background) or one_stream",
                            choices=("two_stream", "one_stream"))
    minibatch_std: int = option(0, "D's minibatch standard deviation over groups of this many clips (Karras et al. "
                                   "2018); 0: the original D", at_least=0)
    minibatch_features: int = option(0, "D's minibatch discrimination: this many learned comparisons of each clip with "
                                        "the others of its batch (Salimans et al. 2016); 0: the original D", at_least=0)

    def __post_init__(self):
        check_fields(self)
        for name in ("frames", "size"):
            if getattr(self, name) % 16:
                raise ValueError(f"{name} must be a positive multiple of 16, got {getattr(self, name)}")

    @property
    def video_shape(self) -> tuple:
        """Shape of one clip, ``(3, T, H, W)``."""
        return (3, self.frames, self.size, self.size)

    @property
    def seed_block(self) -> tuple:
        """``(T/16, H/16, W/16)``: the first generator layer's output and the last D kernel."""
        return (self.frames // 16, self.size // 16, self.size // 16)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # The original: 64x64 pixels, 32 frames (about 1.3 s at 25 fps), widths 512-256-128-64.
    "paper": VideoGANConfig(frames=32, size=64, z_dim=100, width=64),
    # A CPU-friendly model: 32x32 pixels, 16 frames, half widths (256-128-64-32).
    "small": VideoGANConfig(frames=16, size=32, z_dim=100, width=32),
}


def get_config(preset: str = "small", **overrides) -> VideoGANConfig:
    """A preset by name, optionally with some fields replaced."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[preset], **overrides)


class Streams(NamedTuple):
    """Everything a generator computes for a batch of latents.

    video:      (B, 3, T, H, W) in [-1, 1], the composite m*f + (1-m)*b.
    foreground: (B, 3, T, H, W) in [-1, 1], f(z) (the whole video for one stream).
    background: (B, 3, H, W) in [-1, 1], b(z), one still image; None for one stream.
    mask:       (B, 1, T, H, W) in [0, 1], m(z); None for one stream."""

    video: torch.Tensor
    foreground: torch.Tensor
    background: Optional[torch.Tensor]
    mask: Optional[torch.Tensor]


def _up3d(cin: int, cout: int) -> list:
    # kernel 4, stride 2, padding 1 doubles T, H and W exactly
    return [nn.ConvTranspose3d(cin, cout, 4, 2, 1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def _up2d(cin: int, cout: int) -> list:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _foreground_trunk(cfg: VideoGANConfig) -> nn.Sequential:
    # z (B, z, 1, 1, 1) -> (B, width, T/2, H/2, W/2).
    w = cfg.width
    return nn.Sequential(
        nn.ConvTranspose3d(cfg.z_dim, 8 * w, cfg.seed_block, 1, 0), nn.BatchNorm3d(8 * w), nn.ReLU(inplace=True),
        *_up3d(8 * w, 4 * w), *_up3d(4 * w, 2 * w), *_up3d(2 * w, w))


class TwoStreamGenerator(nn.Module):
    """G(z) = m(z) * f(z) + (1 - m(z)) * b(z).

    A 3-D convolutional stream draws the moving foreground f and a mask m that says, per pixel and frame, whether the
    foreground is shown; a 2-D stream draws one background image b that stays still for the whole clip."""

    def __init__(self, cfg: VideoGANConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.foreground = _foreground_trunk(cfg)
        self.video_head = nn.Sequential(nn.ConvTranspose3d(w, 3, 4, 2, 1), nn.Tanh())
        self.mask_head = nn.Sequential(nn.ConvTranspose3d(w, 1, 4, 2, 1), nn.Sigmoid())
        self.background = nn.Sequential(
            nn.ConvTranspose2d(cfg.z_dim, 8 * w, cfg.seed_block[1:], 1, 0), nn.BatchNorm2d(8 * w),
            nn.ReLU(inplace=True), *_up2d(8 * w, 4 * w), *_up2d(4 * w, 2 * w), *_up2d(2 * w, w),
            nn.ConvTranspose2d(w, 3, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, return_streams: bool = False):
        """z: (B, z_dim) -> video (B, 3, T, H, W), or ``Streams`` when ``return_streams``."""
        B = z.shape[0]
        h = self.foreground(z.view(B, -1, 1, 1, 1))
        if torch.is_grad_enabled():
            # Both heads as one 64->4 transposed conv, split after: training reads the large h once, not twice.
            # Under no_grad (sampling, the layer table) they run as the two modules; both agree to float rounding.
            (vw, vb), (mw, mb) = self.video_head[0].parameters(), self.mask_head[0].parameters()
            fm = F.conv_transpose3d(h, torch.cat((vw, mw), 1), torch.cat((vb, mb)), stride=2, padding=1)
            f, m = torch.tanh(fm[:, :3]), torch.sigmoid(fm[:, 3:])
        else:
            f, m = self.video_head(h), self.mask_head(h)
        # f: (B, 3, T, H, W), m: (B, 1, T, H, W)
        b = self.background(z.view(B, -1, 1, 1))     # (B, 3, H, W)
        # m broadcasts over colour, b over time
        video = m * f + (1 - m) * b.unsqueeze(2)
        if return_streams:
            return Streams(video, f, b, m)
        return video


class OneStreamGenerator(nn.Module):
    """The paper's baseline: one 3-D stream, no mask, no background."""

    def __init__(self, cfg: VideoGANConfig):
        super().__init__()
        self.cfg = cfg
        self.foreground = _foreground_trunk(cfg)
        self.video_head = nn.Sequential(nn.ConvTranspose3d(cfg.width, 3, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, return_streams: bool = False):
        """z: (B, z_dim) -> video (B, 3, T, H, W), or ``Streams`` when ``return_streams``."""
        video = self.video_head(self.foreground(z.view(z.shape[0], -1, 1, 1, 1)))
        if return_streams:
            return Streams(video, video, None, None)
        return video


class Discriminator(nn.Module):
    """Five 3-D convolutions from a clip to one logit (real vs generated).

    ``trunk`` maps (B, 3, T, H, W) to features (B, 8*width, T/16, H/16, W/16): 512 channels of 2x4x4 at paper size.
    ``head`` is the last convolution, whose kernel covers that whole block and gives (B, 1, 1, 1, 1). Fine-tuning keeps
    the trunk and swaps the head (see ``ActionClassifier``)."""

    # The original's BatchNorm in D uses eps 1e-3 (Torch7's cudnn default there).
    bn_eps = 1e-3

    def __init__(self, cfg: VideoGANConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width

        def down(cin, cout):
            return [nn.Conv3d(cin, cout, 4, 2, 1), nn.BatchNorm3d(cout, eps=self.bn_eps),
                    nn.LeakyReLU(0.2, inplace=True)]

        self.trunk = nn.Sequential(
            nn.Conv3d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),  # no BN on the first layer
            *down(w, 2 * w),
            *down(2 * w, 4 * w),
            *down(4 * w, 8 * w),
        )
        # With ``minibatch_std`` the head also sees how much the clips of a group differ: a generator that makes
        # every latent alike (the same motion in the same place) gives itself away, so D can push back on it.
        # ``minibatch_features`` lets D learn which features to compare across the batch.
        self.batch_features = (MinibatchDiscrimination(8 * w, cfg.seed_block, cfg.minibatch_features)
                               if cfg.minibatch_features else None)
        self.head = nn.Conv3d(8 * w + (cfg.minibatch_std > 0) + cfg.minibatch_features, 1, cfg.seed_block, 1, 0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, 8*width, T/16, H/16, W/16)."""
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> logits (B,); sigmoid(logit) = P(real)."""
        h = self.trunk(x)
        if self.cfg.minibatch_std:
            h = torch.cat([h, minibatch_std(h, self.cfg.minibatch_std)], dim=1)
        if self.batch_features is not None:
            h = torch.cat([h, self.batch_features(h[:, :8 * self.cfg.width])], dim=1)
        return self.head(h).flatten(1).squeeze(1)


def minibatch_std(h: torch.Tensor, group: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, 1, T, H, W): for each clip, the mean over features of their standard deviation across
    its group of clips (Karras et al. 2018, "Progressive Growing of GANs", section 3).

    Groups are ``gcd(group, B)`` clips taken B/g apart, so any batch size works; one clip alone gives 0."""
    b = h.shape[0]
    g = math.gcd(group, b)
    y = h.float().reshape(g, b // g, *h.shape[1:])
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3, 4))   # (B/g,)
    return y.repeat(g).to(h.dtype).view(b, 1, 1, 1, 1).expand(b, 1, *h.shape[2:])


class MinibatchDiscrimination(nn.Module):
    """Features (B, C, t, h, w) -> (B, kernels, t, h, w): how close each clip comes to the other clips of its batch in
    each of ``kernels`` learned projections (Salimans et al. 2016, "Improved Techniques for Training GANs", 3.2).

    The projection T is a convolution over the whole (t, h, w) block, so the usual initialisation covers it."""

    def __init__(self, channels: int, block: tuple, kernels: int, dims: int = 8):
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.project = nn.Conv3d(channels, kernels * dims, block, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = self.project(h).float().reshape(h.shape[0], self.kernels, self.dims)      # (B, K, dims)
        closeness = torch.exp(-(m[:, None] - m[None]).abs().sum(-1))                 # (B, B, K), 1 for a clip itself
        others = closeness.sum(dim=1) - 1
        return others.to(h.dtype)[:, :, None, None, None].expand(-1, -1, *h.shape[2:])


class ActionClassifier(nn.Module):
    """A discriminator trunk with its last layer replaced by Dropout(0.5) + a K-way conv.

    (B, 3, T, H, W) -> class logits (B, K). This is the original fine-tuning recipe.
    """

    def __init__(self, cfg: VideoGANConfig, num_classes: int, trunk: Optional[nn.Module] = None):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.trunk = trunk if trunk is not None else Discriminator(cfg).trunk
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Conv3d(8 * cfg.width, num_classes, cfg.seed_block, 1, 0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.trunk(x))).flatten(1)


def build_generator(cfg: VideoGANConfig) -> nn.Module:
    return TwoStreamGenerator(cfg) if cfg.generator == "two_stream" else OneStreamGenerator(cfg)


@torch.no_grad()
def init_weights(module: nn.Module, generator: Optional[torch.Generator] = None) -> nn.Module:
    """The original initialisation: conv weights N(0, 0.01), BN weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            m.weight.normal_(0.0, 0.01, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            m.weight.normal_(1.0, 0.02, generator=generator)
            m.bias.zero_()
    return module


def build_models(cfg: VideoGANConfig, seed: int = 0):
    """A freshly initialised (G, D) pair; the same seed gives the same weights."""
    g = torch.Generator().manual_seed(seed)
    G = init_weights(build_generator(cfg), g)
    D = init_weights(Discriminator(cfg), g)
    return G, D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, batch_size: int = 32) -> Streams:
    """All of G's streams for latents z (n, z_dim), in batches, as float tensors on the CPU; G runs in eval mode on its
    own device and is put back in the mode it was in."""
    # eval mode: BatchNorm's running statistics, so a video does not depend on the others in its batch
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        parts = [G(chunk.to(device), return_streams=True) for chunk in z.split(batch_size)]
    finally:
        G.train(was_training)
    return Streams(*[None if xs[0] is None else torch.cat(xs).float().cpu() for xs in zip(*parts)])
