"""Pictures and tables the notebooks share: frame strips, the two streams side by side,
training curves, and a layer-by-layer shape table read off real modules.

Every plotting helper returns its matplotlib ``Figure`` (or ``Axes``) so a notebook
can end the cell with ``plt.show()``. Frames are uint8 ``(T, H, W, 3)``; tensors are
converted with :func:`vgan_lib.video.to_uint8`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .video import tile_videos, to_uint8

__all__ = ["frame_strip", "stream_panel", "plot_losses", "describe_layer", "layer_table", "format_layer_table"]


def frame_strip(frames: np.ndarray, every: int = 2, ax=None, title: Optional[str] = None, pad: int = 1):
    """Draw every ``every``-th frame of one clip side by side on ``ax``.

    frames: uint8 (T, H, W, 3). Returns the Axes (a new figure when ``ax`` is None).
    """
    import matplotlib.pyplot as plt

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got shape {frames.shape}")
    picked = frames[::every]
    # each picked frame as a one-frame "clip", tiled in one row
    strip = tile_videos(picked[:, None], columns=len(picked), pad=pad)[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * len(picked), 1.2))
    ax.imshow(strip, interpolation="nearest")
    ax.set_xticks([(pad + frames.shape[2]) * (i + 0.5) for i in range(len(picked))])
    ax.set_xticklabels([f"t={t}" for t in range(0, len(frames), every)], fontsize=7)
    ax.tick_params(length=0)
    ax.set_yticks([])
    if title:
        ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    return ax


def stream_panel(streams, index: int = 0, every: int = 2, frames: Optional[int] = None, title: Optional[str] = None):
    """One clip's streams as rows of frame strips: composite, foreground f, mask m, background b.

    streams: a ``vgan_lib.model.Streams`` of tensors, video/foreground (B, 3, T, H, W),
    mask (B, 1, T, H, W) in [0, 1], background (B, 3, H, W) (shown repeated over time,
    which is exactly how the composite uses it). A one-stream generator's ``Streams``
    has no mask or background and gives a single row. ``frames`` keeps the first
    ``frames`` frames. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    video = streams.video[index]
    T = video.shape[1] if frames is None else min(frames, video.shape[1])
    rows = [("composite\nm*f + (1-m)*b", video)]
    if streams.mask is not None:
        b = streams.background[index]
        rows += [("foreground f", streams.foreground[index]),
                 ("mask m", streams.mask[index]),
                 ("background b", b.unsqueeze(1).expand(-1, video.shape[1], -1, -1))]
    n_shown = len(range(0, T, every))
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.0 * n_shown + 1.2, 1.15 * len(rows)), squeeze=False)
    for ax, (name, clip) in zip(axes[:, 0], rows):
        frame_strip(to_uint8(clip)[:T], every=every, ax=ax, title=name)
    for ax in axes[:-1, 0]:
        ax.set_xticklabels([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_losses(history: Sequence[dict], smooth: int = 1, title: Optional[str] = None):
    """Training curves from ``GANTrainer.history`` (a list of dicts with ``loss_d``,
    ``loss_g``, ``d_real`` and ``d_fake``): losses on the left, D's mean output on real
    and fake batches on the right. ``smooth`` > 1 draws a running mean over that many
    steps. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("plot_losses needs a non-empty history")
    steps = np.array([h.get("step", i + 1) for i, h in enumerate(history)])

    def series(key):
        y = np.array([h[key] for h in history], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            return steps[smooth - 1:], y
        return steps, y

    fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, label in (("loss_d", "D loss"), ("loss_g", "G loss")):
        ax_l.plot(*series(key), label=label)
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("loss")
    ax_l.legend()
    for key, label in (("d_real", "D(real)"), ("d_fake", "D(G(z))")):
        ax_d.plot(*series(key), label=label)
    ax_d.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("mean D output")
    ax_d.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- shape tables

def describe_layer(mod: nn.Module) -> str:
    """A short name for a layer, e.g. ``ConvT3d 512→256 k4 s2 p1`` or ``BN3d(256)``."""
    if isinstance(mod, nn.modules.conv._ConvNd):
        def short(v):
            return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))
        kind = "ConvT" if mod.transposed else "Conv"
        return (f"{kind}{len(mod.kernel_size)}d {mod.in_channels}→{mod.out_channels} "
                f"k{short(mod.kernel_size)} s{short(mod.stride)} p{short(mod.padding)}")
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        eps = "" if mod.eps == 1e-5 else f", eps {mod.eps:g}"
        return f"BN{type(mod).__name__[-2:]}({mod.num_features}{eps})"
    if isinstance(mod, nn.LeakyReLU):
        return f"LeakyReLU({mod.negative_slope:g})"
    if isinstance(mod, nn.Dropout):
        return f"Dropout({mod.p:g})"
    return type(mod).__name__


def layer_table(module: nn.Module, *inputs, **kwargs) -> list:
    """Run ``module(*inputs, **kwargs)`` once, with a forward hook on every leaf module.

    Returns one dict per leaf call, in execution order: ``name`` (the module's path,
    e.g. ``foreground.0``), ``layer`` (see :func:`describe_layer`), ``shape`` (output shape without the
    batch dimension) and ``params`` (its own parameter count). Runs under no_grad and
    restores the module's train/eval mode.
    """
    rows, handles = [], []
    names = {m: n for n, m in module.named_modules()}

    def hook(mod, _inp, out):
        rows.append({"name": names[mod], "layer": describe_layer(mod), "shape": tuple(out.shape[1:]),
                     "params": sum(p.numel() for p in mod.parameters(recurse=False))})

    for m in module.modules():
        if not list(m.children()):
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return rows


def format_layer_table(rows) -> str:
    """The rows of :func:`layer_table` as fixed-width text, shapes written C x T x H x W.

    ``rows`` is one table (a list) or several tables of the same network at different
    sizes, as ``{"paper": rows_a, "small": rows_b}``: one line per layer (described as
    in the first table), with an output and a parameter column per table.
    """
    tables = rows if isinstance(rows, dict) else {"": rows}
    labels, columns = list(tables), list(tables.values())
    if len({len(c) for c in columns}) != 1 or any(
            [r["name"] for r in c] != [r["name"] for r in columns[0]] for c in columns):
        raise ValueError("the tables do not list the same layers")
    heads = [f"{label} {what}".strip() for what in ("output", "params") for label in labels]
    layer_head = "layer" if len(labels) == 1 else f"layer ({labels[0]})"
    lines = [f"{'module':<14} {layer_head:<26}" + "".join(f" {h:>13}" for h in heads)]
    for i, first in enumerate(columns[0]):
        shapes = ["x".join(map(str, c[i]["shape"])) for c in columns]
        line = f"{first['name']:<14} {first['layer']:<26}" + "".join(f" {s:>13}" for s in shapes)
        lines.append(line + "".join(f" {c[i]['params']:>13,}" for c in columns))
    totals = "".join(f" {sum(r['params'] for r in c):>13,}" for c in columns)
    lines.append(f"{'total':<14} {'':<26}" + " " * (14 * len(columns)) + totals)
    return "\n".join(lines)
