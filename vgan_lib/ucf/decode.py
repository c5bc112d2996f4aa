"""Decoding videos (PyAV) straight to the model's resolution, once, into a uint8 frame cache."""
# Decoding happens before any DataLoader exists, so a broken video is reported here by name
# and never crashes a DataLoader worker: workers only read the cache.

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..files import atomic_path, ensure_writable_dir, run_jobs, wrong_file
from .index import Video, report

CACHE_VERSION = 2  # 2: damaged videos are found (decoding errors counted), not cached


def video_frames(path) -> Iterator[tuple]:
    """``(av.VideoFrame, stream frame rate or None)`` for each frame of a video's first video stream, or DataError
    naming the file: missing, truncated, no video (told by its first bytes), unreadable, or damaged: FFmpeg hides
    damage and decodes on, so the errors its decoder reports are counted, and any raise one after the last frame."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    with open(path, "rb") as f:  # an AVI states its length: a truncated one still decodes its first frames
        head = f.read(12)
    if len(head) == 12 and head[:4] == b"RIFF":
        declared, actual = int.from_bytes(head[4:8], "little") + 8, path.stat().st_size
        if actual < declared:
            raise DataError(f"{path}: truncated video ({actual} of {declared} bytes)")
    n, level = 0, av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs, av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate) if stream.average_rate else None
            for n, frame in enumerate(container.decode(stream), 1):
                yield frame, rate
        errors = [" ".join(m.split()) for lvl, _, m in logs if lvl <= av.logging.ERROR]
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as e:
        what = f"decoding failed after {n} frames" if n else "cannot open video"
        bad = wrong_file(path)
        raise DataError(f"{path}: not a video ({bad})" if bad else f"{path}: corrupt video, {what} ({e})") from None
    finally:
        av.logging.set_level(level)
    if errors:
        raise DataError(f"{path}: corrupt video, {len(errors)} decoding errors in {n} frames (first: {errors[0]})")
    if not n:
        raise DataError(f"{path}: video has no frames")


def decode_video(path, size: int, stride=1, fps: float | None = None) -> np.ndarray:
    """uint8 ``(N, size, size, 3)``: short side resized to ``size``, centre crop (``iter_frames``)."""
    return np.stack(list(iter_frames(path, size, stride, fps)))


def iter_frames(path, size: int | None, stride=1, fps: float | None = None, crop=True) -> Iterator[np.ndarray]:
    """Yield uint8 ``(H, W, 3)`` frames upright (rotation metadata applied), short side resized to ``size`` and,
    with ``crop``, centre-cropped to ``(size, size)``; uncropped frames are only shrunk (``size`` None: as stored).
    ``fps`` resamples time first (nearest frame), then every ``stride``-th frame is kept. Bad files: ``DataError``
    (a damaged video's after its last frame, from ``video_frames``)."""
    # each frame shrinks as it is decoded (area filter): a long video never sits in memory at full size
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    next_t, kept = 0.0, 0  # time of the next output frame; frames emitted so far
    for i, (frame, src_fps) in enumerate(video_frames(path)):
        step = 1.0 / fps if fps and src_fps else None
        repeats = 0 if step else 1
        while step and next_t < (i + 1) / src_fps - 1e-9:  # on screen from i/src_fps until (i+1)/src_fps
            repeats, next_t = repeats + 1, next_t + step
        for _ in range(repeats):
            if kept % stride == 0:
                W, H = frame.width, frame.height  # short side to size, aspect kept
                s = min(W, H) if size is None or (not crop and size > min(W, H)) else size
                w, h = (max(s, round(W * s / H)), s) if W >= H else (s, max(s, round(H * s / W)))
                rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
                rgb = np.rot90(rgb, round(frame.rotation / 90) % 4)  # a phone's portrait video stands up
                y0, x0 = (rgb.shape[0] - s) // 2, (rgb.shape[1] - s) // 2
                yield np.ascontiguousarray(rgb[y0:y0 + s, x0:x0 + s] if crop else rgb)
            kept += 1


def _decode_job(path: str, dest: str, size: int, stride: int, fps: float | None) -> tuple[int, str | None]:
    # runs in a pool too: errors come back as text, and any error still names the file
    try:
        frames = decode_video(path, size, stride, fps)
        with atomic_path(dest) as tmp, open(tmp, "wb") as f:  # a crash never leaves half a cache file
            np.save(f, frames)
        return len(frames), None
    except Exception as e:
        return 0, str(e) if isinstance(e, DataError) else f"{path}: cannot decode video ({type(e).__name__}: {e})"


class FrameCache:
    """Decoded videos as uint8 ``(N, S, S, 3)`` files ``folder/{S}px-stride{k}[-{fps}fps]/{stem}-{key}.npy``."""
    # the key hashes the video's path, size and modification time: nothing stale is reused

    def __init__(self, folder, size: int, stride=1, fps: float | None = None):
        self.size, self.stride, self.fps = size, stride, fps
        self.folder = Path(folder) / (f"{size}px-stride{stride}" + (f"-{fps:g}fps" if fps else ""))

    def path_for(self, video) -> Path:
        video = Path(video).resolve()
        st = video.stat()
        key = json.dumps([CACHE_VERSION, str(video), st.st_size, st.st_mtime_ns, self.size, self.stride, self.fps])
        return self.folder / f"{video.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"

    def _frames_in(self, dest: Path) -> int:
        try:  # the file names the settings, and atomic writes leave only whole files
            return len(np.load(dest, mmap_mode="r"))
        except (OSError, ValueError):
            return 0

    def prepare(self, videos: list[Video], on_error="raise", progress=True, workers=0, desc="decoding videos"):
        """Decode what is not cached; (videos kept, their cache files, frame counts, skipped messages)."""
        skipped, cached = [], {}
        for i, v in enumerate(videos):
            if not v.path.is_file():
                report(f"{v.path}: no such video file", on_error, skipped)
            else:
                dest = self.path_for(v.path)
                cached[i] = (dest, self._frames_in(dest))
        todo = [(i, dest) for i, (dest, n) in cached.items() if not n]
        if todo:
            ensure_writable_dir(self.folder)
        jobs = [(str(videos[i].path), str(dest), self.size, self.stride, self.fps) for i, dest in todo]
        with closing(run_jobs(_decode_job, jobs, workers, desc, "video", progress, chunksize=4)) as results:
            for (i, dest), (n, error) in zip(todo, results):  # an error raised here also ends the pool
                cached[i] = (dest, n)
                if error is not None:
                    report(error, on_error, skipped)
                    del cached[i]
        kept = sorted(cached)
        return ([videos[i] for i in kept], [cached[i][0] for i in kept], [cached[i][1] for i in kept], skipped)
