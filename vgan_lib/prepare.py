"""Any videos -> stabilised golf clips: decode, cut at shot changes, stabilise each clip to its first frame
(``vgan_lib.stabilise``), shrink to square frames and write one vertical JPEG strip per clip with a list file.

    OUT/<video>-<key>/0000.jpg ...   one folder of strips per video, and its done.json, written last
    OUT/train.txt                    every clip of every finished video: vgan train --data OUT/train.txt --root OUT
"""
# A video is finished when its done.json exists: a rerun skips it, and a killed run leaves
# strips no list line names (they are rewritten), never a list line without its strip.

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError, UsageError
from .files import atomic_path, ensure_writable_dir, run_jobs, write_text_atomic
from .options import check_fields, option

__all__ = ["PrepareSettings", "PrepareResult", "prepare", "prepare_video", "cut_clips", "VIDEO_SUFFIXES"]

SKIP = 2   # the original skips each video's first frames (often a fade in or an encoder's warm-up)
DONE = "done.json"
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ogv",
                  ".ts", ".mts", ".gif"}


@dataclass(frozen=True)
class PrepareSettings:
    """How ``prepare`` cuts, stabilises and writes clips; the defaults are the original's (REFERENCE §6)."""

    size: int = option(128, "side of the square frames written", at_least=16)
    frames: int = option(34, "most frames per clip", at_least=2)
    min_frames: int = option(16, "fewest frames per clip; shorter clips are dropped", at_least=2)
    clips: int = option(100, "most clips per video", at_least=1)
    fps: float | None = option(None, "resample each video to this frame rate first", above=0, kind=float)
    stride: int = option(1, "keep every k-th frame (after fps)", at_least=1)
    stabilise: bool = option(True, "take camera motion out (SIFT + RANSAC homographies); off: cut and resize only")
    work_size: int = option(256, "short side frames are matched and warped at (0: as stored, the original's; "
                                 "videos are never enlarged)", at_least=0)
    quality: int = option(90, "JPEG quality", at_least=1, below=101)

    def __post_init__(self):
        check_fields(self)
        if self.min_frames > self.frames:
            raise ValueError(f"min_frames {self.min_frames} is larger than frames {self.frames}")


def cut_clips(frames, s: PrepareSettings, dropped: Counter):
    """Yield (index of its first frame, uint8 (n, size, size, 3)) for each clip of the frames (H, W, 3) of one video;
    ``dropped`` counts the clips left out, by why. No clip straddles a shot cut."""
    from .stabilise import CUT_DISTANCE, LEFT_FRAME, Stabiliser, colour_histogram, histogram_distance, to_square

    clip, first, stab, hist = [], 0, None, None

    def end(why: str):  # the clip so far, if long enough
        if len(clip) >= s.min_frames and why in ("full", "cut", "end", LEFT_FRAME):
            return [(first, np.stack(clip))]
        if clip:
            dropped[f"shorter than {s.min_frames} frames" if why in ("cut", "end") else why] += 1
        return []

    for i, frame in enumerate(frames):
        if i < SKIP:
            continue
        h = colour_histogram(frame)
        cut, hist = hist is not None and histogram_distance(hist, h) > CUT_DISTANCE, h
        if clip and cut:
            yield from end("cut")
            clip = []
        if clip:
            out, why = stab.add(frame) if stab else (frame, None)
            if why is None:
                clip.append(to_square(out, s.size))
                if len(clip) == s.frames:
                    yield from end("full")
                    clip = []
                continue
            yield from end(why)  # this frame starts the next clip
        first, clip, stab = i, [to_square(frame, s.size)], Stabiliser(frame) if s.stabilise else None
    yield from end("end")


def video_folder(video: Path) -> str:
    """The output folder's name for a video: its stem and a key of its full path (two clip.mp4 stay apart)."""
    return f"{video.stem}-{hashlib.sha1(str(video.resolve()).encode()).hexdigest()[:8]}"


def prepare_video(video, dest, s: PrepareSettings = PrepareSettings()) -> dict:
    """Write the clips of one video as strips ``dest/NNNN.jpg`` and then ``dest/done.json``; return its record:
    the clips (file relative to dest's parent, first frame, frames) and the dropped clips by why."""
    from .ucf.decode import iter_frames

    video, dest = Path(video), Path(dest)
    (dest / DONE).unlink(missing_ok=True)
    clips, dropped, seen = [], Counter(), [0]

    def counted(frames):
        for seen[0], frame in enumerate(frames, 1):
            yield frame

    decoded = counted(iter_frames(video, s.work_size or None, s.stride, s.fps, crop=False))
    for first, clip in cut_clips(decoded, s, dropped):
        if not clips:  # strips a killed or older run left here are not listed anywhere: replace them
            dest.mkdir(parents=True, exist_ok=True)
            for old in dest.glob("[0-9][0-9][0-9][0-9].jpg"):
                old.unlink()
        name = f"{len(clips):04d}.jpg"
        with atomic_path(dest / name, suffix=".jpg") as tmp:
            Image.fromarray(clip.reshape(-1, s.size, 3)).save(tmp, quality=s.quality)
        clips.append({"file": f"{dest.name}/{name}", "first": first, "frames": len(clip)})
        if len(clips) == s.clips:
            break
    if not clips:
        if seen[0] < SKIP + s.min_frames:
            raise DataError(f"{video}: {seen[0]} frame{'s' * (seen[0] != 1)}, too short for a clip "
                            f"({s.min_frames} frames after the first {SKIP})")
        why = ", ".join(f"{n} {k}" for k, n in dropped.most_common())
        hint = " (a flat or blurred video has no features to match)" if "too few matches" in dropped else ""
        raise DataError(f"{video}: no clip could be made: {why}{hint}")
    record = {"video": str(video.resolve()), "stamp": _stamp(video), "settings": asdict(s), "frames": seen[0],
              "clips": clips, "dropped": dict(dropped)}
    write_text_atomic(dest / DONE, json.dumps(record, indent=1) + "\n")
    return record


def _stamp(video: Path) -> list:
    st = video.stat()  # a video replaced or edited since it was prepared is prepared again
    return [st.st_size, st.st_mtime_ns]


def _job(video: str, dest: str, s: PrepareSettings) -> tuple[dict | None, str | None]:
    # runs in a pool too: errors come back as text, and any error still names the file
    import cv2

    cv2.setNumThreads(1)  # one video a process: workers, not threads, use the cores
    try:
        return prepare_video(video, dest, s), None
    except Exception as e:
        return None, str(e) if isinstance(e, DataError) else f"{video}: cannot prepare ({type(e).__name__}: {e})"


@dataclass
class PrepareResult:
    list_file: Path
    records: list                              # done.json records of this run's videos, in input order
    reused: int = 0                            # videos finished by an earlier run
    skipped: list = field(default_factory=list)  # one line per video that gave no clip

    @property
    def clips(self) -> int:
        return sum(len(r["clips"]) for r in self.records)

    def summary(self) -> str:
        dropped = sum((Counter(r["dropped"]) for r in self.records), Counter())
        why = "; ".join(f"{n} {k}" for k, n in dropped.most_common()) or "none"
        return (f"videos prepared: {len(self.records)} ({self.reused} by an earlier run), "
                f"skipped: {len(self.skipped)}; clips: {self.clips}; dropped clips: {why}; list file: {self.list_file}")


def _videos(inputs, out: Path) -> list[tuple[Path, bool]]:
    # (video, named as a file): a lone video named as a file that fails is an error; else it is skipped
    found = []
    for p in map(Path, inputs):
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file()
                            and out.resolve() not in f.resolve().parents)
            if not inside:
                raise UsageError(f"{p}: no videos in this folder ({', '.join(sorted(VIDEO_SUFFIXES))})")
            found += [(f, False) for f in inside]
        elif p.is_file():
            found.append((p, True))
        else:
            raise UsageError(f"{p}: no such video file or folder")
    return found


def prepare(inputs, out, settings: PrepareSettings = PrepareSettings(), workers: int = 1,
            progress: bool = True) -> PrepareResult:
    """Prepare every video in ``inputs`` (files, or folders searched for ``VIDEO_SUFFIXES``) into ``out`` and
    write ``out/train.txt`` listing the clips of every finished video there. A video finished with these settings,
    and not changed since, is skipped. A lone video file that gives no clip raises ``DataError``; among several
    videos, such a video is reported in ``skipped`` (one line each) and the rest are prepared."""
    out = ensure_writable_dir(out, UsageError)
    videos = _videos([inputs] if isinstance(inputs, (str, Path)) else inputs, out)
    records, todo = {}, []
    for i, (video, _) in enumerate(videos):
        done = out / video_folder(video) / DONE
        record = json.loads(done.read_text()) if done.is_file() else None
        if record and record["settings"] == asdict(settings) and record.get("stamp") == _stamp(video):
            records[i] = record
        else:
            todo.append(i)
    reused, skipped = len(records), []
    jobs = [(str(videos[i][0]), str(out / video_folder(videos[i][0])), settings) for i in todo]
    for i, (record, error) in zip(todo, run_jobs(_job, jobs, workers, "preparing videos", "video", progress)):
        if error and videos[i][1] and len(videos) == 1:
            raise DataError(error)
        if error:
            skipped.append(error)
        else:
            records[i] = record
    lines = [c["file"] + "\n" for done in sorted(out.glob(f"*/{DONE}")) for c in json.loads(done.read_text())["clips"]]
    if not lines:
        raise DataError(f"no video gave a clip; {len(skipped)} skipped, the first: {skipped[0]}")
    list_file = write_text_atomic(out / "train.txt", "".join(lines))
    return PrepareResult(list_file, [records[i] for i in sorted(records)], reused, skipped)
