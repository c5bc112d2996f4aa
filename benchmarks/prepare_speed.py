#!/usr/bin/env python
"""Frames per second of ``vgan prepare`` with 1 and 2 worker processes, side by side in one process.

    python benchmarks/prepare_speed.py                     # 4 generated camera-motion videos, 256x192
    python benchmarks/prepare_speed.py --videos a.mp4 b.mp4 c.mp4 d.mp4

Each round prepares every video into a fresh folder once per setting (1 worker, 2 workers, and 1 worker without
stabilisation: decoding, cuts, resizing and JPEG writing alone); the median round is reported as decoded
frames per second and as a ratio to 1 worker. Workers take one video each, so use at least as many videos as workers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="+", help="videos to prepare (default: generated camera-motion footage)")
    ap.add_argument("--count", type=int, default=4, help="generated videos (default: 4)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every setting in turn (default: 3)")
    args = ap.parse_args(argv)

    import cv2

    from vgan_lib.prepare import PrepareSettings, prepare
    from vgan_lib.stabilise import camera_footage
    from vgan_lib.ucf.synthetic import write_avi

    tmp = Path(tempfile.mkdtemp(prefix="prepare-speed-"))
    videos = args.videos or [write_avi(tmp / f"shaky{i}.avi", camera_footage(seed=i).video)
                             for i in range(args.count)]
    print(f"{platform.processor() or platform.machine()} | cores {os.cpu_count()} | OpenCV {cv2.__version__} | "
          f"{len(videos)} videos")
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
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
