"""Pictures and tables the notebooks share: frame strips, the two streams side by side, training curves,
and a layer-by-layer shape table read off real modules. Plots return their matplotlib Figure (or Axes)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .video import tile_videos, to_uint8

__all__ = ["frame_strip", "stream_panel", "plot_losses", "HISTORY_CURVES", "plot_history", "describe_layer",
           "layer_table", "format_layer_table", "format_table", "plot_frame_grid"]


def _finish(fig, title: Optional[str], **title_style):
    # the title, if any, then tight layout: every figure here ends so
    if title:
        fig.suptitle(title, **title_style)
    fig.tight_layout()
    return fig


def frame_strip(frames: np.ndarray, every: int = 2, ax=None, title: Optional[str] = None, pad: int = 1):
    """Every ``every``-th frame of one clip, uint8 (T, H, W, 3), side by side on ``ax`` (None: a new figure)."""
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
    """Clip ``index`` of ``model.Streams`` (video (B, 3, T, H, W), ...) as rows of frame strips: composite,
    foreground f, mask m, background b (one row for a one-stream generator); ``frames`` keeps the first frames."""
    # the background (B, 3, H, W) is repeated over time, as the composite uses it
    import matplotlib.pyplot as plt

    video = streams.video[index]
    T = video.shape[1] if frames is None else min(frames, video.shape[1])
    rows = [("composite\nm*f + (1-m)*b", video)]
    if streams.mask is not None:
        rows += [("foreground f", streams.foreground[index]), ("mask m", streams.mask[index]),
                 ("background b", streams.background[index].unsqueeze(1).expand(-1, video.shape[1], -1, -1))]
    fig, axes = plt.subplots(len(rows), 1, figsize=(len(range(0, T, every)) + 1.2, 1.15 * len(rows)), squeeze=False)
    for ax, (name, clip) in zip(axes[:, 0], rows):
        frame_strip(to_uint8(clip)[:T], every=every, ax=ax, title=name)
    for ax in axes[:-1, 0]:
        ax.set_xticklabels([])
    return _finish(fig, title, fontsize=10)


def plot_losses(history: Sequence[dict], smooth: int = 1, title: Optional[str] = None):
    """Training curves from ``GANTrainer.history``: losses left, D's mean output on real and fake batches
    right; ``smooth`` > 1 draws a running mean over that many steps."""
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("plot_losses needs a non-empty history")
    steps = np.array([h.get("step", i + 1) for i, h in enumerate(history)])

    def series(key):
        y = np.array([h[key] for h in history], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            return steps[smooth - 1:], np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        return steps, y

    fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, ylabel, curves in ((ax_l, "loss", (("loss_d", "D loss"), ("loss_g", "G loss"))),
                               (ax_d, "mean D output", (("d_real", "D(real)"), ("d_fake", "D(G(z))")))):
        for key, label in curves:
            ax.plot(*series(key), label=label)
        ax.set(xlabel="step", ylabel=ylabel)
        ax.legend()
    ax_d.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_d.set_ylim(0, 1)
    return _finish(fig, title)


HISTORY_CURVES = (("motion_ratio", "motion energy / real's"), ("still_share", "still videos"),
                  ("motion_overlap", "motion overlap"), ("pairwise_rms_min", "smallest pairwise distance"),
                  ("factor_frechet", "factor Fréchet distance"), ("factor_score", "factor score"))


def plot_history(steps: Sequence[int], figures: Sequence[dict], real: dict, title: Optional[str] = None):
    """The kit's figures of one run against its step (``vgan_lib.history.History``'s ``steps``, ``figures`` and
    ``real``); a dashed line marks the real clips' own value (for the motion ratio: 1)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(11, 5.2))
    for ax, (key, label) in zip(axes.flat, HISTORY_CURVES):
        ax.plot(steps, [f[key] for f in figures], marker=".")
        ax.axhline(1.0 if key == "motion_ratio" else real[key], color="grey", lw=0.8, ls="--", label="real clips")
        if key in ("motion_ratio", "factor_frechet"):
            ax.set_yscale("log")
        ax.set(xlabel="step", title=label)
        ax.title.set_fontsize(9)
    axes.flat[0].legend(fontsize=8)
    return _finish(fig, title)


def plot_frame_grid(videos: np.ndarray, row_labels: Optional[Sequence[str]] = None,
                    frames: Optional[Sequence[int]] = None, title: Optional[str] = None):
    """Clips uint8 (N, T, H, W, 3): one row per clip, one column per chosen frame (default: up to 8 evenly spaced)."""
    import matplotlib.pyplot as plt

    videos = np.asarray(videos)
    n, t = videos.shape[:2]
    frames = list(range(0, t, max(1, t // 8)))[:8] if frames is None else list(frames)
    fig, axes = plt.subplots(n, len(frames), figsize=(0.8 * len(frames) + 0.9, 0.8 * n + 0.4), squeeze=False)
    for i in range(n):
        for j, (f, ax) in enumerate(zip(frames, axes[i])):
            ax.imshow(videos[i, f], interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            if i == 0:
                ax.set_title(f"t={f}", fontsize=8)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
    return _finish(fig, title, fontsize=10)


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
    """Run ``module(*inputs, **kwargs)`` once under no_grad, hooking every leaf module: one dict per leaf call,
    in order: ``name`` (e.g. ``foreground.0``), ``layer`` (``describe_layer``), ``shape`` (output shape without
    the batch dimension), ``params`` (its own parameter count)."""
    rows, names = [], {m: n for n, m in module.named_modules()}

    def hook(mod, _inp, out):
        rows.append({"name": names[mod], "layer": describe_layer(mod), "shape": tuple(out.shape[1:]),
                     "params": sum(p.numel() for p in mod.parameters(recurse=False))})

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            module(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return rows


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Fixed-width text, the first column left-aligned, the others right-aligned; cells printed as given."""
    table = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip()
                     for r in table)


def format_layer_table(rows) -> str:
    """``layer_table`` rows as text, shapes C x T x H x W; or several tables of one network at different sizes,
    ``{"paper": rows_a, "small": rows_b}``: an output and a parameter column per table."""
    tables = rows if isinstance(rows, dict) else {"": rows}
    labels, columns = list(tables), list(tables.values())
    if not columns or any([r["name"] for r in c] != [r["name"] for r in columns[0]] for c in columns):
        raise ValueError("the tables do not list the same layers")
    header = ["module", "layer" if len(labels) == 1 else f"layer ({labels[0]})"]
    header += [f"{label} {what}".strip() for what in ("output", "params") for label in labels]
    body = [[first["name"], first["layer"]] + ["x".join(map(str, c[i]["shape"])) for c in columns]
            + [f"{c[i]['params']:,}" for c in columns] for i, first in enumerate(columns[0])]
    body.append(["total", ""] + [""] * len(columns) + [f"{sum(r['params'] for r in c):,}" for c in columns])
    # the layer column is text: left-align it by padding before the right-aligned columns
    width = max(len(r[1]) for r in [header] + body)
    return format_table([f"{header[0]:<14} {header[1]:<{width}}"] + header[2:],
                        [[f"{r[0]:<14} {r[1]:<{width}}"] + r[2:] for r in body])
