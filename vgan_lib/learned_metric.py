"""Figures from a network, not from pixels: a small 3-D conv classifier of what a synthetic clip shows (the kinds of
its objects and how each moves, as ``make_synthetic`` drew them), and, from it, the kit-scale analogues of FVD and of
the video Inception Score; plus real FVD with the standard I3D TorchScript file, when you supply it.

factor Fréchet: Fréchet distance between Gaussians fitted to the classifier's features (its last hidden layer) of two
sets of videos; 0 for the same distribution. factor score: exp(E_x KL(p(y|x) || p(y))) over its class predictions:
1 when every video gets the same prediction, up to the number of classes when each is confident and all classes occur.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from itertools import combinations_with_replacement
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import atomic_save, header, read_file
from .data import load_strip
from .errors import CheckpointError, DataError
from .files import list_lines
from .model import VideoGANConfig
from .pretrained import sha256_of
from .synthetic import KINDS, MOTIONS

__all__ = ["CLASSES", "CLIP", "SHIPPED", "factor_class", "FactorNet", "factor_clips", "train_factor_net", "accuracy",
           "save_factor_net", "load_factor_net", "features_and_probs", "frechet_distance", "class_score",
           "load_i3d", "i3d_features", "learned_figures"]

FORMAT = "vgan_lib.factor_net"
SHIPPED = Path(__file__).parent / "weights" / "metric" / "factor-net.pt"
CLIP = VideoGANConfig(frames=16, size=32)   # the clips it reads: the small preset's 16 frames of 32x32
# a class per multiset of 1 or 2 objects, each a (kind, motion): the sets make_synthetic draws by default
_OBJECTS = [f"{k}-{m}" for k in KINDS for m in MOTIONS]
CLASSES = tuple("+".join(c) for n in (1, 2) for c in combinations_with_replacement(_OBJECTS, n))


def factor_class(objects) -> int:
    """Index in ``CLASSES`` of a clip's objects, e.g. ``["box-slide", "ball-orbit"]`` (any order)."""
    name = "+".join(sorted(objects, key=_OBJECTS.index))
    if name not in CLASSES:
        raise DataError(f"{name!r} is not a class of the factor classifier (1 or 2 objects of {_OBJECTS})")
    return CLASSES.index(name)


class FactorNet(nn.Module):
    """(B, 3, 16, 32, 32) in [-1, 1] -> class logits (B, len(CLASSES)); ``features`` gives the (B, 8*width) layer
    before them. The frames and their changes from the frame before, four 3x3x3 convolutions, each halving the size
    (the first keeps every frame), then a mean over space and time."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers, c_in = [], 6
        for i, c in enumerate((width, 2 * width, 4 * width, 8 * width)):
            layers += [nn.Conv3d(c_in, c, 3, stride=(1, 2, 2) if i == 0 else 2, padding=1, bias=False),
                       nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.body, self.head = nn.Sequential(*layers), nn.Linear(c_in, len(CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # the change channels single out what moves over a still scene, so the net learns motion from fewer clips
        change = F.pad(x.diff(dim=2), (0, 0, 0, 0, 1, 0))
        return self.body(torch.cat([x, 4 * change], dim=1)).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def factor_clips(folder) -> tuple:
    """Clips (N, 3, 16, 32, 32) float16 and class labels (N,) of a ``make_synthetic`` folder (its factors.txt)."""
    lines = list_lines(Path(folder) / "factors.txt", "factors file (written by make_synthetic)")
    labels = torch.tensor([factor_class(tokens[1:]) for _, tokens in lines])
    clips = torch.stack([load_strip(Path(folder) / t[0], CLIP.frames, CLIP.size).half() for _, t in lines])
    return clips, labels


def _fit(videos: torch.Tensor) -> torch.Tensor:
    # (B, 3, T, H, W) of any size -> the classifier's (B, 3, 16, 32, 32), float32
    x = videos.detach().float().cpu().clamp(-1, 1)
    return x if x.shape[2:] == CLIP.video_shape[1:] else \
        F.interpolate(x, size=CLIP.video_shape[1:], mode="trilinear", align_corners=False)


@torch.no_grad()
def features_and_probs(net: FactorNet, videos: torch.Tensor, batch: int = 128) -> tuple:
    """(N, 3, T, H, W) in [-1, 1] -> features (N, D) and class probabilities (N, len(CLASSES)), float64."""
    net.eval()
    feats = torch.cat([net.features(_fit(v)) for v in videos.split(batch)])
    return feats.double(), net.head(feats).double().softmax(dim=1)


def accuracy(net: FactorNet, clips: torch.Tensor, labels: torch.Tensor) -> float:
    return (features_and_probs(net, clips)[1].argmax(1) == labels).double().mean().item()


def train_factor_net(train, held_out, epochs: int = 6, batch_size: int = 32, lr: float = 3e-3, width: int = 16,
                     seed: int = 0) -> tuple:
    """Train a FactorNet on the clips of ``make_synthetic`` folder ``train`` (fp32, one-cycle Adam, seeded);
    return it and its accuracy on folder ``held_out``."""
    torch.manual_seed(seed)
    x, y = factor_clips(train)
    net, order = FactorNet(width), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * -(-len(x) // batch_size))
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            loss = F.cross_entropy(net(x[idx].float()), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return net.eval(), accuracy(net, *factor_clips(held_out))


def save_factor_net(path, net: FactorNet) -> Path:
    return atomic_save({**header(FORMAT), "model_config": CLIP.to_dict(), "width": net.head.in_features // 8,
                        "weights": {k: v.detach().cpu() for k, v in net.state_dict().items()}}, path)


def load_factor_net(path=SHIPPED) -> FactorNet:
    """A saved FactorNet in eval mode (``weights_only``); by default the one shipped with the kit, after checking its
    sha256 against its manifest beside it (factor-net.json)."""
    if Path(path) == SHIPPED and SHIPPED.is_file():
        if sha256_of(SHIPPED) != json.loads(SHIPPED.with_suffix(".json").read_text())["sha256"]:
            raise CheckpointError(f"{path}: sha256 does not match its manifest; the file is damaged or was replaced")
    state = read_file(path, FORMAT)
    net = FactorNet(state["width"])
    net.load_state_dict(state["weights"])
    return net.eval()


@lru_cache(maxsize=1)
def _shipped() -> FactorNet:
    return load_factor_net()


def _gaussian(x: torch.Tensor) -> tuple:
    return x.mean(0), torch.cov(x.T)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    # symmetric square root; rounding can leave tiny negative eigenvalues, which are 0
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features a (N, D) and b (M, D), N, M >= 2:
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64."""
    (mu_a, s_a), (mu_b, s_b) = _gaussian(a.double()), _gaussian(b.double())
    root = _sqrt_psd(s_a)
    cross = torch.linalg.eigvalsh(root @ s_b @ root).clamp_min(0).sqrt().sum()
    return ((mu_a - mu_b).square().sum() + s_a.trace() + s_b.trace() - 2 * cross).clamp_min(0).item()


def class_score(probs: torch.Tensor) -> float:
    """exp(mean_i KL(p_i || mean_j p_j)) of class probabilities (N, K): from 1 (all alike) to K."""
    p = probs.double().clamp_min(1e-12)
    return torch.exp((p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean()).item()


def load_i3d(path) -> torch.jit.ScriptModule:
    """The standard FVD network: an I3D (Kinetics-400) TorchScript file, ``i3d_torchscript.pt``."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such I3D TorchScript file (the FVD network, i3d_torchscript.pt)")
    try:
        with warnings.catch_warnings():   # TorchScript is deprecated, but it is the format the file comes in
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # torch raises RuntimeError or ValueError with pages of context
        raise DataError(f"{path}: not a TorchScript file ({str(e).strip().splitlines()[0][:120]})") from None


@torch.no_grad()
def i3d_features(i3d, videos: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """(N, 3, T, H, W) in [-1, 1], T >= 16 -> I3D features (N, 400), float64, preprocessed as the common FVD code
    does: the first 16 frames, each resized to 224x224, pixels left in [-1, 1], the network's own rescaling and
    resizing off. The network runs where the videos are (a GPU, if they are on one)."""
    i3d, out = i3d.to(videos.device), []
    for v in videos[:, :, :16].split(batch):
        x = F.interpolate(v.float().clamp(-1, 1), size=(16, 224, 224), mode="trilinear", align_corners=False)
        try:
            f = i3d(x, rescale=False, resize=False, return_features=True)
        except RuntimeError as e:
            raise DataError(f"the I3D file's network refused the FVD call ({str(e).strip().splitlines()[0][:120]})")
        if f.dim() != 2 or f.shape[1] != 400:
            raise DataError(f"the I3D file returned features of shape {tuple(f.shape)}, not (N, 400)")
        out.append(f.double())
    return torch.cat(out)


def learned_figures(videos: torch.Tensor, reference: torch.Tensor, net: FactorNet | None = None, i3d=None) -> dict:
    """``factor_frechet`` of videos (N, 3, T, H, W) against reference clips (M, 3, T, H, W), ``factor_score`` of
    the videos, and ``fvd`` when an I3D network (``load_i3d``) is given."""
    net = net or _shipped()
    feats, probs = features_and_probs(net, videos)
    out = {"factor_frechet": frechet_distance(feats, features_and_probs(net, reference)[0]),
           "factor_score": class_score(probs)}
    if i3d is not None:
        out["fvd"] = frechet_distance(i3d_features(i3d, videos), i3d_features(i3d, reference))
    return out
