"""When in the clip do videos change? The mean change from each frame to the next, for real clips and generators.

Run from the repository root:

    python -m research.motion_timing vgan_lib/weights/small-synthetic.pt runs/a/step_4000.pt

Real objects move all through a clip, so the real clips' change is about the same at every frame transition. A
generator whose videos change more at some transitions than at others moves every video at the same moments: the
"same moments" half of a high motion overlap (``vgan_lib.metrics.motion_overlap``). Stride-2 transposed convolutions
in time are the usual suspect (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"): each output frame gets
its value from a different half of the kernel, so odd and even transitions can differ.

Printed per source: the peak over the mean of the transitions (1 when change is even in time), the mean of odd
transitions over that of even ones, the motion overlap counting only clear changes (above 0.1; faint shimmer left out),
and the profile. 256 latents (seed 0) and 256 clips of the default synthetic set.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

import torch

from vgan_lib.checkpoint import load_models
from vgan_lib.device import cpu_kind
from vgan_lib.latent import sample_latents
from vgan_lib.metrics import change_map, motion_overlap, real_clips
from vgan_lib.model import generate
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

from .ship_pretrained import ROOT, N_CLIPS


def profile(videos: torch.Tensor) -> torch.Tensor:
    """(N, 3, T, H, W) in [-1, 1] -> (T-1,): the mean change of a pixel at each frame transition."""
    return change_map(videos).mean(dim=(0, 2, 3))


def line(name: str, videos: torch.Tensor) -> str:
    p = profile(videos)
    peak, odd_even = (p.max() / p.mean()).item(), (p[1::2].mean() / p[0::2].mean()).item()
    clear = motion_overlap(videos, threshold=0.1)
    return (f"{name}: peak/mean {peak:.2f}, odd/even {odd_even:.2f}, clear overlap {clear:.2f} | "
            + " ".join(f"{x:.4f}" for x in p.tolist()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="GAN checkpoints or weights files")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {cpu_kind()}")
    G, _ = load_models(args.checkpoints[0])
    spec = SyntheticSpec()
    list_file = make_synthetic(ROOT / "data" / "synthetic", spec, progress=False)
    print(line("real clips", real_clips(list_file, G.cfg, n=N_CLIPS, seed=0)),
          f"(synthetic set {asdict(spec)['count']} clips, seed {spec.seed})")
    for path in args.checkpoints:
        G, _ = load_models(path)
        print(line(path, generate(G, sample_latents(N_CLIPS, G.cfg.z_dim, seed=0)).video))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
