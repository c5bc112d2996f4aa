"""Numbers anyone can recompute to judge generated videos against real clips.

No learned metric, no download: each figure is a plain statistic of the pixels.

* motion energy: mean |x[t+1] - x[t]| over pixels, colours and frames, with pixels in
  [0, 1]. A still video scores 0; real clips of the synthetic set score a few 0.01.
* moving share: the share of pixels (colours averaged) that change by more than
  ``MOVING`` = 0.2 from one frame to the next. Motion energy adds up every change,
  however faint; this counts only clear ones, so the two together tell an object
  that moves from a faint shimmer spread over the whole picture.
* still videos: the share of videos in which not one pixel changes clearly (by more than
  ``MOVING``) between two frames. Motion energy and moving share are means over the
  batch: a generator that moves a lot in some videos and not at all in others can
  match the real clips on both. Few real clips of the synthetic set are still (3 %).
* smoothness: mean |x[t+2] - x[t]| / mean |x[t+1] - x[t]|. Something moving steadily
  travels further in two frames than in one (> 1; real clips of the synthetic set
  score about 1.6); a picture that flickers between two states changes less over two
  frames than over one (< 1), the mark of a temporal checkerboard from stride-2
  transposed convolutions in time. NaN for a video that does not change at all.
* mask statistics (two-stream only): how much of the picture the mask opens
  (``mask_mean``, ``mask_open`` = share of m > 0.5; ``mask_undecided`` = share of
  0.1 < m < 0.9, where foreground and background blend), whether the open region moves
  (``mask_centroid_travel``: path length of the mask's centre of mass, in pixels per
  frame) and whether the motion happens where the mask is open
  (``motion_in_mask``: share of the frame-to-frame change that falls where m > 0.5
  in either frame).
* diversity: mean and smallest RMS distance between pairs of videos. Distinct z
  giving (nearly) the same video is mode collapse; real clips set the scale.
* motion overlap: do two videos change in the same places at the same moments? The
  cosine similarity of their change maps |x[t+1] - x[t]| (colours averaged), averaged
  over all pairs. Real clips, whose objects go their own ways, score low (about 0.13
  on the synthetic set); a generator whose videos all move alike scores near 1, even
  when their backgrounds differ enough to keep the pairwise distance large. It is the
  check for a collapse of the motion alone.
* colour distance: do the generated pixels have the real clips' colours, in the same
  amounts? The total-variation distance between two colour histograms, each channel cut
  into ``COLOUR_LEVELS`` = 8 levels (512 bins): 0 when the histograms are the same, 1
  when no colour is shared. It is the figure for what the motion figures cannot see,
  garish or washed-out scenes. For the real clips it is their distance to as many other
  real clips (0.20 for 256 clips of the synthetic set): the distance that different
  scenes alone make, below which no generator can be told apart.
"""

from __future__ import annotations

from typing import Optional

import torch

__all__ = ["MOVING", "motion_energy", "moving_share", "smoothness", "mask_statistics", "pairwise_rms", "diversity",
           "change_map", "still_share", "motion_overlap", "COLOUR_LEVELS", "colour_histogram", "colour_distance",
           "video_statistics",
           "generate_in_batches", "compare_with_real"]


def _unit(videos: torch.Tensor) -> torch.Tensor:
    # [-1, 1] -> [0, 1]
    return (videos.float().clamp(-1, 1) + 1) / 2


def motion_energy(videos: torch.Tensor) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> mean |x[t+1] - x[t]| in [0, 1] pixel units."""
    x = _unit(videos)
    return (x[:, :, 1:] - x[:, :, :-1]).abs().mean().item()


MOVING = 0.2


def change_map(videos: torch.Tensor) -> torch.Tensor:
    """(N, 3, T, H, W) in [-1, 1] -> (N, T-1, H, W): each pixel's colour-mean change to the next frame."""
    x = _unit(videos)
    return (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=1)


def moving_share(videos: torch.Tensor, threshold: float = MOVING) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> share of (pixel, frame pair) whose colour-mean change exceeds ``threshold``."""
    return (change_map(videos) > threshold).float().mean().item()


def still_share(videos: torch.Tensor, threshold: float = MOVING) -> float:
    """(N, 3, T, H, W) in [-1, 1] -> share of the N videos without a single change above ``threshold``."""
    moves = (change_map(videos) > threshold).flatten(1).any(dim=1)
    return (~moves).float().mean().item()


def smoothness(videos: torch.Tensor) -> float:
    """(N, 3, T, H, W) in [-1, 1], T >= 3 -> mean two-frame change / mean one-frame change."""
    x = _unit(videos)
    one = motion_energy(videos)
    two = (x[:, :, 2:] - x[:, :, :-2]).abs().mean().item()
    return two / one if one > 0 else float("nan")


def mask_statistics(mask: torch.Tensor, videos: torch.Tensor) -> dict:
    """mask (N, 1, T, H, W) in [0, 1] and its composite videos (N, 3, T, H, W)."""
    m = mask.float()
    n, _, t, h, w = m.shape
    ys = torch.arange(h, dtype=torch.float32).view(1, 1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, 1, w)
    mass = m.sum(dim=(3, 4)).clamp_min(1e-6)                     # (N, 1, T)
    cy = (m * ys).sum(dim=(3, 4)) / mass
    cx = (m * xs).sum(dim=(3, 4)) / mass
    step = torch.sqrt((cy[..., 1:] - cy[..., :-1]) ** 2 + (cx[..., 1:] - cx[..., :-1]) ** 2)
    change = (_unit(videos)[:, :, 1:] - _unit(videos)[:, :, :-1]).abs().sum(dim=1, keepdim=True)  # (N,1,T-1,H,W)
    # a pixel changes because an object arrives or leaves: open in either of the two frames
    open_pair = torch.maximum(m[:, :, 1:], m[:, :, :-1]) > 0.5
    return {
        "mask_mean": m.mean().item(),
        "mask_open": (m > 0.5).float().mean().item(),
        # an undecided mask (neither about 0 nor about 1) lets the foreground show through everywhere
        "mask_undecided": ((m > 0.1) & (m < 0.9)).float().mean().item(),
        "mask_change": (m[:, :, 1:] - m[:, :, :-1]).abs().mean().item(),
        "mask_centroid_travel": step.mean().item(),
        "motion_in_mask": ((change * open_pair).sum() / change.sum().clamp_min(1e-12)).item(),
    }


def pairwise_rms(videos: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N*(N-1)/2,) RMS distances between all pairs, pixels in [0, 1]."""
    x = _unit(videos).flatten(1)
    d = torch.cdist(x, x) / x.shape[1] ** 0.5
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    return d[i, j]


def diversity(videos: torch.Tensor) -> dict:
    d = pairwise_rms(videos)
    return {"pairwise_rms_mean": d.mean().item(), "pairwise_rms_min": d.min().item()}


def motion_overlap(videos: torch.Tensor) -> float:
    """(N, 3, T, H, W) in [-1, 1], N >= 2 -> mean cosine similarity of the change maps of all pairs.

    A video that does not change at all has no direction and counts as 0 against every other.
    """
    change = change_map(videos).flatten(1)   # (N, (T-1)*H*W)
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
    """Total-variation distance in [0, 1] between the colour histograms of two sets of videos."""
    return 0.5 * (colour_histogram(videos, levels) - colour_histogram(other, levels)).abs().sum().item()


def video_statistics(videos: torch.Tensor, mask: Optional[torch.Tensor] = None) -> dict:
    """All the figures above for one batch of videos (and its masks, if any)."""
    stats = {"motion_energy": motion_energy(videos), "moving_share": moving_share(videos),
             "still_share": still_share(videos), "smoothness": smoothness(videos), **diversity(videos),
             "motion_overlap": motion_overlap(videos)}
    if mask is not None:
        stats.update(mask_statistics(mask, videos))
    return stats


@torch.no_grad()
def generate_in_batches(G, n: int, seed: int = 0, batch: int = 32):
    """n videos from G in eval mode with z from ``seed``: (video, mask or None) on the CPU."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.cfg.z_dim, generator=g)
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    videos, masks = [], []
    try:
        for i in range(0, n, batch):
            s = G(z[i:i + batch].to(device), return_streams=True)
            videos.append(s.video.float().cpu())
            if s.mask is not None:
                masks.append(s.mask.float().cpu())
    finally:
        G.train(was_training)
    return torch.cat(videos), (torch.cat(masks) if masks else None)


def compare_with_real(G, real: torch.Tensor, n: int = 256, seed: int = 0, untrained=None,
                      other_real: Optional[torch.Tensor] = None) -> dict:
    """Statistics of ``n`` generated videos, of the real clips (N, 3, T, H, W), and of an
    untrained generator as the floor; plus the generated/real motion ratio.

    other_real: more real clips, none of them in ``real``, for the real clips' own colour
    distance; without them it is one half of ``real`` against the other.
    """
    video, mask = generate_in_batches(G, n, seed)
    own = colour_distance(other_real, real) if other_real is not None and len(other_real) else \
        colour_distance(real[::2], real[1::2])
    out = {"generated": {**video_statistics(video, mask), "colour_distance": colour_distance(video, real)},
           "real": {**video_statistics(real), "colour_distance": own}}
    if untrained is not None:
        v0, m0 = generate_in_batches(untrained, n, seed)
        out["untrained"] = {**video_statistics(v0, m0), "colour_distance": colour_distance(v0, real)}
    out["motion_ratio"] = out["generated"]["motion_energy"] / max(out["real"]["motion_energy"], 1e-12)
    out["moving_ratio"] = out["generated"]["moving_share"] / max(out["real"]["moving_share"], 1e-12)
    return out


def real_clips(list_file, cfg, n: int = 256, seed: int = 0, root=None, skip: int = 0) -> torch.Tensor:
    """``n`` clips (n, 3, T, H, W) picked from a golf-format set by a seeded permutation,
    after its first ``skip`` (fewer, or none, where the set runs out)."""
    from .data import GolfClips

    data = GolfClips(list_file, root, frames=cfg.frames, size=cfg.size)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[skip:skip + n]
    if not len(order):
        return torch.empty(0, 3, cfg.frames, cfg.size, cfg.size)
    return torch.stack([data[int(i)] for i in order])


def quality_report(G, list_file, n: int = 256, seed: int = 0, root=None) -> dict:
    """``compare_with_real`` against ``n`` real clips of a golf-format set, with a freshly
    initialised generator of the same config as the floor, and the next ``n`` real clips of
    the same permutation for the real clips' own colour distance; figures rounded to 4 digits."""
    from .model import build_models

    real = real_clips(list_file, G.cfg, n, seed, root)
    other = real_clips(list_file, G.cfg, n, seed, root, skip=n)
    untrained, _ = build_models(G.cfg, seed=seed)
    report = compare_with_real(G, real, n=n, seed=seed, untrained=untrained, other_real=other)

    def rounded(x):
        return {k: rounded(v) for k, v in x.items()} if isinstance(x, dict) else float(f"{x:.4g}")

    return rounded(report)
