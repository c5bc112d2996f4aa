"""Loss terms the original lacks, each named and with its source; a run adds them to G's loss by name and weight
(``TrainConfig(extras={"flicker": 300})``, ``vgan train --extra flicker=300``, a recipe's phase). Each takes the
generator's ``Streams`` for the batch and returns a scalar. The shipped model's last 800 steps used both.

* ``blend``: mean m(1 - m), the binarisation prior on soft masks common in layered generators.
* ``flicker``: mean m[t+1] |f[t+1] - f[t]|, derived for this kit."""
# blend is 0 where every mask value is 0 or 1, largest at 1/2. The L1 prior pulls every value towards 0; this one
# decides the mask without shutting it, so the foreground does not show through faintly everywhere.
# flicker: the composite m f + (1 - m) b changes from one frame to the next where the mask moves over a still scene,
# (m[t+1] - m[t]) (f[t] - b), and where the foreground changes while shown, m[t+1] (f[t+1] - f[t]). A rigid object
# sliding over a still background needs only the first; the second is the shimmer of a foreground seen through the mask.

from __future__ import annotations

import torch

__all__ = ["TERMS", "blend_penalty", "flicker_penalty", "check", "parse"]


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
