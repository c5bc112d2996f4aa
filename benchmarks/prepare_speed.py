#!/usr/bin/env python
"""Frames per second of ``vgan prepare`` with 1 and 2 worker processes, side by side in one process.

    python benchmarks/prepare_speed.py                     # 4 generated camera-motion videos, 256x192
    python benchmarks/prepare_speed.py --videos a.mp4 b.mp4 c.mp4 d.mp4

Each round prepares every video into a fresh folder once per setting (1 worker, 2 workers, and 1 worker without
stabilisation: decoding, cuts, resizing and JPEG writing alone); the median round is reported as decoded
frames per second and as a ratio to 1 worker. Workers take one video each, so use at least as many videos as workers.
Then the exact matcher the kit uses is timed against the original's FLANN k-d tree on the first video.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="+", help="videos to prepare (default: generated camera-motion footage)")
    ap.add_argument("--count", type=int, default=4, help="generated videos (default: 4)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every setting in turn (default: 3)")
    args = ap.parse_args(argv)

    import cv2

    from vgan_lib.device import cpu_kind
    from vgan_lib.prepare import PrepareSettings, prepare
    from vgan_lib.stabilise import camera_footage
    from vgan_lib.ucf.synthetic import write_avi

    tmp = Path(tempfile.mkdtemp(prefix="prepare-speed-"))
    videos = args.videos or [write_avi(tmp / f"shaky{i}.avi", camera_footage(seed=i).video)
                             for i in range(args.count)]
    print(f"{cpu_kind()} | OpenCV {cv2.__version__} | {len(videos)} videos")
    settings = {"1 worker": (1, True), "2 workers": (2, True), "1 worker, no stabilisation": (1, False)}
    rates = {name: [] for name in settings}
    for r in range(args.rounds):
        for name, (workers, stabilise) in settings.items():
            out = tmp / f"out-{r}-{workers}-{stabilise}"
            t0 = time.perf_counter()
            result = prepare(videos, out, PrepareSettings(stabilise=stabilise), workers=workers, progress=False)
            seconds = time.perf_counter() - t0
            rates[name].append(sum(rec["frames"] for rec in result.records) / seconds)
    base = statistics.median(rates["1 worker"])
    for name, values in rates.items():
        fps = statistics.median(values)
        print(f"{name:28s} {fps:7.1f} frames/s  {fps / base:5.2f}x  (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"clips a run: {result.clips}; load average at the end: {os.getloadavg()[0]:.1f}")
    matchers(videos[0])
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def matchers(video, pairs: int = 30) -> None:
    """The kit's exact matcher against the original's FLANN k-d tree (5 trees, 50 checks) on consecutive frames:
    time per frame pair and the share of ratio-test pairs both find."""
    import cv2

    from vgan_lib.stabilise import RATIO
    from vgan_lib.ucf.decode import iter_frames

    sift = cv2.SIFT_create()
    frames = [f for _, f in zip(range(pairs + 1), iter_frames(video, 256, crop=False))]
    desc = [sift.detectAndCompute(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), None)[1] for f in frames]
    found, seconds = {}, {}
    for name, matcher in [("exact (BFMatcher)", cv2.BFMatcher(cv2.NORM_L2)),
                          ("FLANN k-d tree", cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 50}))]:
        t0 = time.perf_counter()
        found[name] = [{(m.queryIdx, m.trainIdx) for m, n in matcher.knnMatch(b, a, k=2)
                        if m.distance < RATIO * n.distance} for a, b in zip(desc, desc[1:])]
        seconds[name] = (time.perf_counter() - t0) / pairs
    exact, flann = found.values()
    same = sum(len(x & y) for x, y in zip(exact, flann)) / sum(len(x | y) for x, y in zip(exact, flann))
    print(f"matching {pairs} frame pairs ({np.mean([len(d) for d in desc]):.0f} key points a frame): "
          + ", ".join(f"{k} {1000 * v:.2f} ms" for k, v in seconds.items())
          + f"; pairs found by both: {same:.1%}")


if __name__ == "__main__":
    sys.exit(main())
