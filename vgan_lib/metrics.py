"""Numbers anyone can recompute to judge generated videos against real clips: plain pixel statistics, and in
``compare_with_real`` the learned figures of ``vgan_lib.learned_metric`` too.

Pixels are taken in [0, 1]; the real clips of the synthetic set score about: motion energy a few 0.01, still share 3 %,
smoothness 1.6, motion overlap 0.13, colour distance to other real clips 0.20 (256 clips)."""
# Moving share tells an object that moves from a faint shimmer; still share, a batch of half frozen, half busy videos
# (the means cannot); smoothness < 1 is flicker, the temporal checkerboard of stride-2 transposed convolutions; motion
# overlap near 1, a collapse of the motion alone.

from __future__ import annotations

from pathlib import Path

import torch

from .data import GolfClips
from .latent import sample_latents
from .learned_metric import learned_figures, load_i3d
from .model import build_models, generate

__all__ = ["MOVING", "motion_energy", "moving_share", "smoothness", "mask_statistics", "pairwise_rms", "diversity",
           "change_map", "still_share", "motion_overlap", "COLOUR_LEVELS", "colour_histogram", "colour_distance",
           "video_statistics", "compare_with_real", "real_clips", "quality_report"]


def _unit(videos: torch.Tensor) -> torch.Tensor:
    # [-1, 1] -> [0, 1]
    return (videos.float().clamp(-1, 1) + 1) / 2


def _change(videos: torch.Tensor, k: int = 1) -> torch.Tensor:
    # (N, 3, T, H, W) in [-1, 1] -> |x[t+k] - x[t]| (N, 3, T-k, H, W) in [0, 1] pixel units
    x = _unit(videos)
    return (x[:, :, k:] - x[:, :, :-k]).abs()


def motion_energy(videos: torch.Tensor) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> mean |x[t+1] - x[t]| in [0, 1] pixel units (a still video scores 0)."""
    return _change(videos).mean().item()


MOVING = 0.2


def change_map(videos: torch.Tensor) -> torch.Tensor:
    """(N, 3, T, H, W) in [-1, 1] -> (N, T-1, H, W): each pixel's colour-mean change to the next frame."""
    return _change(videos).mean(dim=1)


def moving_share(videos: torch.Tensor, threshold: float = MOVING) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> share of (pixel, frame pair) whose colour-mean change exceeds ``threshold``."""
    return (change_map(videos) > threshold).float().mean().item()


def still_share(videos: torch.Tensor, threshold: float = MOVING) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> share of the N videos without a single change above ``threshold``."""
    moves = (change_map(videos) > threshold).flatten(1).any(dim=1)
    return (~moves).float().mean().item()


def smoothness(videos: torch.Tensor) -> float:
    """(N, 3, T, H, W) in [-1, 1], T >= 3 -> mean |x[t+2] - x[t]| / mean |x[t+1] - x[t]|: > 1 for steady
    motion, < 1 for flicker."""
    one = motion_energy(videos)
    return _change(videos, 2).mean().item() / one if one > 0 else float("nan")


def mask_statistics(mask: torch.Tensor, videos: torch.Tensor) -> dict:
    """mask (N, 1, T, H, W) in [0, 1] and its composite videos (N, 3, T, H, W): how much the mask opens
    (mean, share > 0.5, share undecided: 0.1 < m < 0.9), how far its centre of mass travels (pixels per frame),
    and the share of the change that falls where the mask is open in either frame (``motion_in_mask``)."""
    m = mask.float()
    n, _, t, h, w = m.shape
    mass = m.sum(dim=(3, 4)).clamp_min(1e-6)                     # (N, 1, T)
    cy = (m * torch.arange(h, dtype=torch.float32).view(1, 1, 1, h, 1)).sum(dim=(3, 4)) / mass
    cx = (m * torch.arange(w, dtype=torch.float32).view(1, 1, 1, 1, w)).sum(dim=(3, 4)) / mass
    step = torch.sqrt((cy[..., 1:] - cy[..., :-1]) ** 2 + (cx[..., 1:] - cx[..., :-1]) ** 2)
    change = _change(videos).sum(dim=1, keepdim=True)  # (N, 1, T-1, H, W)
    # a pixel changes because an object arrives or leaves: open in either of the two frames
    open_pair = torch.maximum(m[:, :, 1:], m[:, :, :-1]) > 0.5
    # an undecided mask (neither about 0 nor about 1) lets the foreground show through everywhere
    return {"mask_mean": m.mean().item(), "mask_open": (m > 0.5).float().mean().item(),
            "mask_undecided": ((m > 0.1) & (m < 0.9)).float().mean().item(),
            "mask_change": (m[:, :, 1:] - m[:, :, :-1]).abs().mean().item(), "mask_centroid_travel": step.mean().item(),
            "motion_in_mask": ((change * open_pair).sum() / change.sum().clamp_min(1e-12)).item()}


def pairwise_rms(videos: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N*(N-1)/2,) RMS distances between all pairs, pixels in [0, 1]."""
    x = _unit(videos).flatten(1)
    d = torch.cdist(x, x) / x.shape[1] ** 0.5
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    return d[i, j]


def diversity(videos: torch.Tensor) -> dict:
    """Mean and smallest RMS distance between pairs of videos (small: mode collapse)."""
    d = pairwise_rms(videos)
    return {"pairwise_rms_mean": d.mean().item(), "pairwise_rms_min": d.min().item()}


def motion_overlap(videos: torch.Tensor, threshold: float = 0.0) -> float:
    """(N, 3, T, H, W) in [-1, 1], N >= 2 -> mean cosine similarity of the change maps of all pairs
    (a video that does not change counts as 0 against every other); changes below ``threshold`` count as none."""
    change = change_map(videos).flatten(1)   # (N, (T-1)*H*W)
    if threshold > 0:
        change = change * (change > threshold)
    unit = change / change.norm(dim=1, keepdim=True).clamp_min(1e-12)
    i, j = torch.triu_indices(len(unit), len(unit), offset=1)
    return (unit @ unit.T)[i, j].mean().item()


COLOUR_LEVELS = 8


def colour_histogram(videos: torch.Tensor, levels: int = COLOUR_LEVELS) -> torch.Tensor:
    """(N, 3, T, H, W) in [-1, 1] -> (levels**3,) share of all pixels in each colour bin."""
    q = (_unit(videos) * levels).long().clamp_(max=levels - 1)       # 1.0 falls in the top level
    bins = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    counts = torch.bincount(bins.flatten(), minlength=levels ** 3).float()
    return counts / counts.sum()


def colour_distance(videos: torch.Tensor, other: torch.Tensor, levels: int = COLOUR_LEVELS) -> float:
    """Total-variation distance between the colour histograms of two sets of videos: 0 same colours, 1 none shared."""
    return 0.5 * (colour_histogram(videos, levels) - colour_histogram(other, levels)).abs().sum().item()


def video_statistics(videos: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
    """All the figures above for one batch of videos (and its masks, if any)."""
    stats = {"motion_energy": motion_energy(videos), "moving_share": moving_share(videos),
             "still_share": still_share(videos), "smoothness": smoothness(videos), **diversity(videos),
             "motion_overlap": motion_overlap(videos)}
    if mask is not None:
        stats.update(mask_statistics(mask, videos))
    return stats


def compare_with_real(G, real: torch.Tensor, n: int = 256, seed: int = 0, untrained=None,
                      other_real: torch.Tensor | None = None, i3d=None) -> dict:
    """Statistics of ``n`` generated videos, of the real clips (N, 3, T, H, W), and of an untrained generator as
    the floor; plus generated/real ratios, and the learned figures against the real clips
    (``vgan_lib.learned_metric``: factor Fréchet, factor score, and FVD with an I3D file or network ``i3d``)."""
    # The real clips' own colour distance and Fréchet distances are to other_real (none of them in real), else
    # from one half of real to the other: the floor no generator can go below.
    i3d = load_i3d(i3d) if isinstance(i3d, (str, Path)) else i3d
    s = generate(G, sample_latents(n, G.cfg.z_dim, seed))  # video (n, 3, T, H, W), mask (n, 1, T, H, W) or None
    own, mine = (other_real, real) if other_real is not None and len(other_real) else (real[::2], real[1::2])
    out = {"generated": {**video_statistics(s.video, s.mask), "colour_distance": colour_distance(s.video, real),
                         **learned_figures(s.video, real, i3d=i3d)},
           "real": {**video_statistics(real), "colour_distance": colour_distance(own, mine),
                    **learned_figures(mine, own, i3d=i3d)}}
    if untrained is not None:
        u = generate(untrained, sample_latents(n, untrained.cfg.z_dim, seed))
        out["untrained"] = {**video_statistics(u.video, u.mask), "colour_distance": colour_distance(u.video, real),
                            **learned_figures(u.video, real, i3d=i3d)}
    out["motion_ratio"] = out["generated"]["motion_energy"] / max(out["real"]["motion_energy"], 1e-12)
    out["moving_ratio"] = out["generated"]["moving_share"] / max(out["real"]["moving_share"], 1e-12)
    return out


def real_clips(list_file, cfg, n: int = 256, seed: int = 0, root=None, skip: int = 0) -> torch.Tensor:
    """``n`` clips (n, 3, T, H, W) picked from a golf-format set by a seeded permutation,
    after its first ``skip`` (fewer, or none, where the set runs out)."""
    data = GolfClips(list_file, root, frames=cfg.frames, size=cfg.size)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[skip:skip + n]
    if not len(order):
        return torch.empty(0, 3, cfg.frames, cfg.size, cfg.size)
    return torch.stack([data[int(i)] for i in order])


def quality_report(G, list_file, n: int = 256, seed: int = 0, root=None, i3d=None) -> dict:
    """``compare_with_real`` against ``n`` real clips of a golf-format set (and the next ``n`` as
    ``other_real``), a fresh generator of the same config as the floor; figures rounded to 4 digits.
    ``i3d``: the FVD network's TorchScript file (``i3d_torchscript.pt``), to add FVD."""
    i3d = load_i3d(i3d) if i3d is not None else None
    real = real_clips(list_file, G.cfg, n, seed, root)
    other = real_clips(list_file, G.cfg, n, seed, root, skip=n)
    untrained, _ = build_models(G.cfg, seed=seed)
    report = compare_with_real(G, real, n=n, seed=seed, untrained=untrained, other_real=other, i3d=i3d)

    def rounded(x):
        return {k: rounded(v) for k, v in x.items()} if isinstance(x, dict) else float(f"{x:.4g}")

    return rounded(report)
