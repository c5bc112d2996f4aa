"""What a run may add to the original, each named and with its source.

Loss terms, added to G's loss by name and weight (``TrainConfig(extras={"flicker": 300})``, ``vgan train --extra
flicker=300``, a recipe's phase). Each takes the generator's ``Streams`` for the batch and returns a scalar.

* ``blend``: mean m(1 - m), the binarisation prior on soft masks common in layered generators.
* ``flicker``: mean m[t+1] |f[t+1] - f[t]|, derived for this kit.

Differentiable augmentation of everything D sees, real and fake alike (DiffAugment, Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training"), named in ``TrainConfig(augment="colour,translation")``. Each draws its
own random numbers per clip, the same for every frame of it, so a clip's motion is left as it was.

* ``colour``: brightness, saturation and contrast.
* ``translation``: a shift by up to 1/8 of the frame, the uncovered border zero.
* ``cutout``: a square of half the frame's side set to zero."""
# blend is 0 where every mask value is 0 or 1, largest at 1/2. The L1 prior pulls every value towards 0; this one
# decides the mask without shutting it, so the foreground does not show through faintly everywhere.
# flicker: the composite m f + (1 - m) b changes from one frame to the next where the mask moves over a still scene,
# (m[t+1] - m[t]) (f[t] - b), and where the foreground changes while shown, m[t+1] (f[t+1] - f[t]). A rigid object
# sliding over a still background needs only the first; the second is the shimmer of a foreground seen through the mask.

from __future__ import annotations

import torch

__all__ = ["TERMS", "blend_penalty", "flicker_penalty", "check", "parse", "AUGMENTS", "augment_names",
           "augment"]


def blend_penalty(streams) -> torch.Tensor:
    """mean m(1 - m) over the mask (B, 1, T, H, W); 0 for a one-stream generator."""
    if streams.mask is None:
        return torch.zeros(())
    m = streams.mask.float()
    return (m * (1 - m)).mean()


def flicker_penalty(streams) -> torch.Tensor:
    """mean m[t+1] * |f[t+1] - f[t]| (colour-mean, [0, 1] pixel units); 0 for a one-stream generator.

    foreground f: (B, 3, T, H, W) in [-1, 1]; mask m: (B, 1, T, H, W) in [0, 1].
    """
    if streams.mask is None:
        return torch.zeros(())
    f = streams.foreground.float() / 2   # [-1, 1] -> differences in [0, 1] pixel units
    change = (f[:, :, 1:] - f[:, :, :-1]).abs().mean(dim=1, keepdim=True)
    return (streams.mask[:, :, 1:].float() * change).mean()


TERMS = {"blend": blend_penalty, "flicker": flicker_penalty}


def check(weights: dict) -> None:
    """One ValueError line for an unknown name or a weight that is not a number >= 0."""
    for name, w in weights.items():
        if name not in TERMS:
            raise ValueError(f"unknown extra term {name!r}; the kit has {', '.join(sorted(TERMS))}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ValueError(f"extra term {name!r} needs a weight >= 0, got {w!r}")


def parse(items) -> dict:
    """``["flicker=300", "blend=50"]`` -> ``{"flicker": 300.0, "blend": 50.0}``, checked."""
    weights = {}
    for item in items or ():
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:  # no "=", or no number after it
            raise ValueError(f"--extra {item!r}: write NAME=WEIGHT, e.g. flicker=300") from None
    check(weights)
    return weights


# ---------------------------------------------------------------------------- DiffAugment
# D learns from augmented clips only, so it cannot memorise the few thousand real ones; because the same random
# transforms reach the fakes inside G's graph, G is not taught to make augmented clips (Zhao et al. 2020, section 3).
# Ranges are DiffAugment's own.

def _uniform(x: torch.Tensor, gen: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    # (B, 1, 1, 1, 1) per clip, drawn on the CPU so a seed gives the same numbers on every device
    u = torch.rand(x.shape[0], 1, 1, 1, 1, generator=gen)
    return (lo + (hi - lo) * u).to(x.device, x.dtype)


def colour(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1]: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)."""
    x = x + _uniform(x, gen, -0.5, 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * _uniform(x, gen, 0.0, 2.0) + grey
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    return (x - mean) * _uniform(x, gen, 0.5, 1.5) + mean


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """(B, C, T, H, W): every clip shifted by its own (dy, dx), |d| <= ratio * side, zero where nothing comes in."""
    B, _, _, H, W = x.shape
    ph, pw = max(1, round(H * ratio)), max(1, round(W * ratio))
    dy = torch.randint(-ph, ph + 1, (B, 1), generator=gen)
    dx = torch.randint(-pw, pw + 1, (B, 1), generator=gen)
    rows = (torch.arange(H)[None] + dy + ph).to(x.device)     # (B, H) rows of the padded clip
    cols = (torch.arange(W)[None] + dx + pw).to(x.device)     # (B, W)
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    b = torch.arange(B, device=x.device)[:, None, None]
    # advanced indices around the two slices put their dims first: (B, H, W, C, T)
    return padded[b, :, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 4, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """(B, C, T, H, W): a square of ``ratio`` times the side, at a random place per clip, set to 0 in every frame."""
    B, _, _, H, W = x.shape
    h, w = round(H * ratio), round(W * ratio)
    top = torch.randint(0, H - h + 1, (B, 1), generator=gen)
    left = torch.randint(0, W - w + 1, (B, 1), generator=gen)
    inside_h = (torch.arange(H)[None] >= top) & (torch.arange(H)[None] < top + h)      # (B, H)
    inside_w = (torch.arange(W)[None] >= left) & (torch.arange(W)[None] < left + w)    # (B, W)
    keep = ~(inside_h[:, :, None] & inside_w[:, None, :])                              # (B, H, W)
    return x * keep[:, None, None].to(x.device, x.dtype)


AUGMENTS = {"colour": colour, "translation": translation, "cutout": cutout}


def augment_names(policy: str) -> list:
    """``"colour,translation"`` -> ``["colour", "translation"]``; one ValueError line for an unknown name."""
    names = [n.strip() for n in policy.split(",") if n.strip()]
    for n in names:
        if n not in AUGMENTS:
            raise ValueError(f"augment: unknown augmentation {n!r}; the kit has {', '.join(AUGMENTS)}")
    return names


def augment(x: torch.Tensor, policy: str, gen: torch.Generator) -> torch.Tensor:
    """(B, 3, T, H, W) -> the same clips through each augmentation of ``policy`` in turn (none: ``x`` itself)."""
    for name in augment_names(policy):
        x = AUGMENTS[name](x, gen)
    return x
