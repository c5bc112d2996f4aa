#!/usr/bin/env python
"""How long the latent explorer takes to update its picture (no browser, kernel side only).

    python benchmarks/widget_update.py                       # the small preset, random weights
    python benchmarks/widget_update.py --checkpoint runs/pretrained-small/checkpoint.pt

Prints the median of ``LatentExplorer.update_seconds`` for:

* frame scrub, first visit: pick the frame from the cached streams, upscale, encode PNG;
* frame scrub, revisit: the PNG is cached, only the widget value changes;
* alpha change: G runs once for the new latent (batch of one);
* alpha revisit: the streams of an alpha seen before come from the cache;
* the same for the "all" view (four pictures side by side).

Weights do not change the cost, so random weights measure the same as a trained model
of the same preset. Sending the picture to the browser is not included.
"""

from __future__ import annotations

import argparse
import statistics
import sys


def median_ms(times) -> str:
    return f"{1000 * statistics.median(times):6.1f} ms (n={len(times)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="a checkpoint or weights file (default: random weights)")
    ap.add_argument("--preset", default="small", help="model preset for random weights (default: small)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads while G runs (default: 1)")
    ap.add_argument("--alphas", type=int, default=20, help="how many new alpha values to time (default: 20)")
    args = ap.parse_args(argv)

    import torch

    from vgan_lib.device import cpu_kind
    from vgan_lib.model import build_models, get_config
    from vgan_lib.widgets import LatentExplorer

    if args.checkpoint:
        from vgan_lib.checkpoint import load_models
        G, _ = load_models(args.checkpoint)
    else:
        G, _ = build_models(get_config(args.preset))
    cfg = G.cfg
    print(cpu_kind())
    print(f"model {cfg}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"G threads {args.threads}")

    ex = LatentExplorer(G, threads=args.threads or None)
    # warm up: the first G call and the first PNG encode pay one-off costs
    ex.alpha.value = 0.5
    ex.alpha.value = 0.0

    def scrub(view: str) -> tuple:
        ex.view.value = view
        first, again = [], []
        for visits in (first, again):
            ex.frame.value = 0
            for f in range(1, cfg.frames):
                ex.frame.value = f
                visits.append(ex.update_seconds)
        return first, again

    def alphas() -> tuple:
        new, again = [], []
        values = [round((i + 1) / (args.alphas + 1), 2) for i in range(args.alphas)]
        for a in values:
            calls = ex.generator_calls
            ex.alpha.value = a
            assert ex.generator_calls == calls + 1 and ex.last_error is None
            new.append(ex.update_seconds)
        for a in values:
            calls = ex.generator_calls
            ex.alpha.value = 0.0
            ex.alpha.value = a
            assert ex.generator_calls == calls
            again.append(ex.update_seconds)
        return new, again

    for view in ("composite", "all"):
        ex.alpha.value = 0.0
        first, again = scrub(view)
        print(f"[{view:9s}] frame scrub, first visit: {median_ms(first)}")
        print(f"[{view:9s}] frame scrub, revisit:     {median_ms(again)}")
        ex._streams_cache.clear()
        ex._png_cache.clear()
        ex.refresh()  # alpha 0 again, the start of every revisit below
        new, again = alphas()
        print(f"[{view:9s}] alpha change (G runs):    {median_ms(new)}")
        print(f"[{view:9s}] alpha revisit (cached):   {median_ms(again)}")
    print(f"picture {ex.picture().shape[1]}x{ex.picture().shape[0]} px (scale {ex.scale}) for the 'all' view")
    return 0


if __name__ == "__main__":
    sys.exit(main())
