"""UCF-101 (and anything laid out like it) as clips the VideoGAN discriminator can read.

The paper tests what D learned by fine-tuning it to recognise actions in UCF-101.
This module turns the data set on disk into tensors of the GAN's clip shape
``(3, T, S, S)`` in [-1, 1]. It works in three steps, each a function you can call
on its own:

1. **Index** (``index_ucf101``): which videos, which class, train or test.
   * The official download: ``ucfTrainTestlist/classInd.txt`` (``1 ApplyEyeMakeup``
     ... ``101 YoYo``, 1-indexed), ``trainlistNN.txt`` (``Class/v_Class_gGG_cCC.avi
     label``) and ``testlistNN.txt`` (the path only) for split NN = 1, 2, 3, and the
     videos under ``UCF-101/Class/``. The lists use CRLF line ends; blank lines and
     trailing spaces are ignored. The class comes from the *folder*, never from the
     file name: the folder ``HandstandPushups`` holds ``v_HandStandPushups_*`` files.
     A listed path that differs from the disk only in letter case is still found.
   * A bare tree of class folders (``Class/*.avi``): classes are the folder names in
     sorted order, and the split is by *group*. UCF-101's 25 groups (``_gGG_``) are
     clips cut from one long recording (same person, same room); if one group were
     in both train and test, a classifier could win by recognising the room. So the
     official rule is applied: split k tests groups 7(k-1)+1 .. 7k of 25 (scaled to
     the number of groups there are), all other groups train.
2. **Decode and cache** (``FrameCache``): every video is decoded once, with PyAV,
   straight to the model's resolution: the short side is resized to S and the
   centre S x S is cropped (any size and aspect works, portrait too; grey videos
   become three equal channels). Optionally the frame rate is resampled (``fps``)
   and every k-th frame kept (``stride``), so a clip of T frames spans more time.
   The result, uint8 ``(N, S, S, 3)``, is saved as one ``.npy`` per video under a
   folder named by the settings, with the video's path, size and modification time
   in the file name: changing a setting or a video never reuses a stale cache. This
   pass runs in the main process (or a process pool it controls), *before* any
   DataLoader exists: a broken video is reported here, with its name, and never
   crashes a DataLoader worker. Workers only read the uint8 cache.
3. **Sample** (``TrainClips``, ``TestVideos``): training takes one random window of
   T frames per video per epoch (a seeded ``torch.Generator`` draws the starts, so
   runs repeat); testing takes ``windows`` evenly spaced windows per video so the
   classifier's answers can be averaged into one answer per video. A video shorter
   than T is padded by repeating its last frame, as the original loader does.
   There is no flipping: several of the kit's generated classes differ only in the
   direction of motion, and a mirror image would turn one class into another.

``load_ucf101(root, cfg)`` does all three and returns the train and test sets.

Bad input gives a one-line ``DataError`` that names the file (a truncated or
corrupt video, a video without frames, a listed file that is missing, a label
outside classInd.txt, a class folder with no videos). With ``on_error="skip"``
the offending video is left out instead and the message is kept in ``.skipped``.
A truncated AVI often still decodes its first frames; it is treated as broken all
the same (the RIFF header states the file's length, so truncation is certain), as
a half video would silently give the wrong clip windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import DataError
from .files import atomic_path
from .model import VideoGANConfig

__all__ = [
    "VIDEO_EXTENSIONS",
    "Video",
    "SplitIndex",
    "read_class_index",
    "read_split_list",
    "parse_ucf_name",
    "held_out_groups",
    "group_split",
    "scan_class_folders",
    "index_ucf101",
    "decode_video",
    "FrameCache",
    "take_window",
    "to_clip",
    "stratified_subset",
    "TrainClips",
    "TestVideos",
    "UCF101Data",
    "load_ucf101",
    "load_split",
]

PathLike = Union[str, os.PathLike]
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")
ON_ERROR = ("raise", "skip")
CACHE_VERSION = 1
_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)$")


# ---------------------------------------------------------------------------- 1. index

@dataclass(frozen=True)
class Video:
    """One video file: where it is, its class (0-indexed) and its group ("g08", or the file stem)."""

    path: Path
    label: int
    group: str


@dataclass
class SplitIndex:
    """The videos of one split. ``layout`` is "official" (split files) or "folders" (bare tree)."""

    classes: List[str]
    train: List[Video]
    test: List[Video]
    split: int
    layout: str
    skipped: List[str] = field(default_factory=list)


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")


def _lines(path: Path) -> List[Tuple[int, List[str]]]:
    """(line number, tokens) of every non-blank line; CRLF/LF and stray spaces do not matter."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        # str.split() with no argument drops "\r", trailing spaces and tabs alike
        return [(n, line.split()) for n, line in enumerate(f, 1) if line.split()]


def read_class_index(path: PathLike) -> List[str]:
    """Class names from classInd.txt in label order: ``names[0]`` is the class labelled 1."""
    path = Path(path)
    by_label: Dict[int, str] = {}
    for lineno, tokens in _lines(path):
        if len(tokens) != 2 or not tokens[0].isdigit():
            raise DataError(f"{path}:{lineno}: expected '<label> <ClassName>', got {' '.join(tokens)!r}")
        label = int(tokens[0])
        if label in by_label:
            raise DataError(f"{path}:{lineno}: label {label} appears twice")
        by_label[label] = tokens[1]
    if not by_label:
        raise DataError(f"{path}: class index is empty")
    if sorted(by_label) != list(range(1, len(by_label) + 1)):
        raise DataError(f"{path}: labels must run 1..{len(by_label)} without gaps")
    return [by_label[k] for k in range(1, len(by_label) + 1)]


def parse_ucf_name(name: str) -> Optional[Tuple[str, int, int]]:
    """``"v_YoYo_g08_c03.avi"`` -> ``("YoYo", 8, 3)``; None for other names."""
    m = _UCF_NAME.match(Path(name).stem)
    return (m["cls"], int(m["group"]), int(m["clip"])) if m else None


def _group_of(path: Path) -> str:
    parsed = parse_ucf_name(path.name)
    return f"g{parsed[1]:02d}" if parsed else path.stem


class _CaseInsensitiveDir:
    """Finds ``Class/file.avi`` under a root even when the letter case differs.

    The official lists and folders agree on case, but copies made on case-insensitive
    file systems (Windows, macOS) sometimes do not; one listing per folder is cached.
    """

    def __init__(self, root: Path):
        self.root = root
        self._listings: Dict[Path, Dict[str, str]] = {}

    def _listing(self, folder: Path) -> Dict[str, str]:
        if folder not in self._listings:
            try:
                self._listings[folder] = {p.name.lower(): p.name for p in folder.iterdir()}
            except OSError:
                self._listings[folder] = {}
        return self._listings[folder]

    def resolve(self, rel: str) -> Optional[Path]:
        exact = self.root / rel
        if exact.is_file():
            return exact
        here = self.root
        for part in Path(rel).parts:
            name = self._listing(here).get(part.lower())
            if name is None:
                return None
            here = here / name
        return here if here.is_file() else None


def read_split_list(path: PathLike, classes: Sequence[str], video_root: PathLike,
                    on_error: str = "raise") -> Tuple[List[Video], List[str]]:
    """The videos a trainlistNN.txt or testlistNN.txt names, and the messages of skipped lines.

    A line is ``Class/v_Class_gGG_cCC.avi [label]``. With a label (train lists) it
    must be in 1..len(classes) and agree with the folder; without one (test lists)
    the folder names the class.
    """
    _check_on_error(on_error)
    path, root = Path(path), Path(video_root)
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    finder = _CaseInsensitiveDir(root)
    videos, skipped = [], []
    for lineno, tokens in _lines(path):
        rel = tokens[0].replace("\\", "/")
        folder = rel.split("/")[0] if "/" in rel else None
        try:
            if len(tokens) > 2:
                raise DataError(f"{path}:{lineno}: expected '<Class/file.avi> [label]', got {' '.join(tokens)!r}")
            from_folder = lookup.get(folder.lower()) if folder else None
            if len(tokens) == 2:
                if not tokens[1].lstrip("-").isdigit():
                    raise DataError(f"{path}:{lineno}: label {tokens[1]!r} is not a whole number")
                label = int(tokens[1])
                if not 1 <= label <= len(classes):
                    raise DataError(f"{path}:{lineno}: label {label} is outside classInd.txt (1..{len(classes)})")
                label -= 1  # the files count from 1, tensors from 0
                if from_folder is not None and from_folder != label:
                    raise DataError(f"{path}:{lineno}: label {label + 1} ({classes[label]}) disagrees with the "
                                    f"folder {folder!r} (label {from_folder + 1})")
            elif from_folder is None:
                raise DataError(f"{path}:{lineno}: class folder {folder!r} of {rel!r} is not in classInd.txt")
            else:
                label = from_folder
            found = finder.resolve(rel)
            if found is None:
                raise DataError(f"{root / rel}: listed in {path.name} line {lineno} but missing")
        except DataError as e:
            if on_error == "raise":
                raise
            skipped.append(str(e))
            continue
        videos.append(Video(found, label, _group_of(found)))
    return videos, skipped


def held_out_groups(split: int, num_groups: int = 25) -> set:
    """The groups split ``split`` tests on: 1-7, 8-14 or 15-21 of 25, scaled to other group counts.

    With 25 groups this is the official rule; groups past the third block always train.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if num_groups < 3:
        raise DataError(f"a group-aware split needs at least 3 groups, found {num_groups}")
    block = max(1, round(num_groups * 7 / 25))
    first = (split - 1) * block + 1
    return set(range(first, first + block))


def group_split(videos: Sequence[Video], split: int = 1) -> Tuple[List[Video], List[Video]]:
    """(train, test) with every group wholly on one side.

    Files named like UCF-101 (``_gGG_``) follow ``held_out_groups``; otherwise each class's
    groups (then: files) are shuffled with the split as seed and about 28 % (7 of
    25, at least one when a class has two or more) go to test.
    """
    parsed = [parse_ucf_name(v.path.name) for v in videos]
    if videos and all(parsed):
        tests = held_out_groups(split, max(p[1] for p in parsed))
        train = [v for v, p in zip(videos, parsed) if p[1] not in tests]
        test = [v for v, p in zip(videos, parsed) if p[1] in tests]
        return train, test
    rng = np.random.default_rng([split, 25])
    test_keys = set()
    for label in sorted({v.label for v in videos}):
        groups = sorted({v.group for v in videos if v.label == label})
        n_test = 0 if len(groups) < 2 else max(1, round(len(groups) * 7 / 25))
        order = rng.permutation(len(groups))
        test_keys.update((label, groups[i]) for i in order[:n_test])
    train = [v for v in videos if (v.label, v.group) not in test_keys]
    test = [v for v in videos if (v.label, v.group) in test_keys]
    return train, test


def scan_class_folders(video_root: PathLike, on_error: str = "raise") -> Tuple[List[str], List[Video], List[str]]:
    """(classes, videos, skipped messages) of a bare tree ``video_root/Class/*.avi``.

    Folders starting with "." or "_" (caches, notebooks' checkpoints) are not classes.
    A class folder without a video is an error, or with ``on_error="skip"`` left out.
    """
    _check_on_error(on_error)
    root = Path(video_root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    classes, videos, skipped = [], [], []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        if not files:
            msg = f"{folder}: class folder has no videos ({', '.join(VIDEO_EXTENSIONS)})"
            if on_error == "raise":
                raise DataError(msg)
            skipped.append(msg)
            continue
        label = len(classes)
        classes.append(folder.name)
        videos += [Video(f, label, _group_of(f)) for f in files]
    if not classes:
        raise DataError(f"{root}: no class folders with videos found")
    return classes, videos, skipped


def _find_lists(root: Path) -> Optional[Path]:
    for folder in (root / "ucfTrainTestlist", root, root.parent / "ucfTrainTestlist"):
        if (folder / "classInd.txt").is_file():
            return folder
    return None


def _find_video_root(root: Path, lists: Optional[Path], classes: Sequence[str]) -> Path:
    candidates = [root / "UCF-101", root]
    if lists is not None:
        candidates += [lists.parent / "UCF-101", lists.parent]
    wanted = {c.lower() for c in classes}
    for folder in candidates:
        if folder.is_dir() and (not wanted or any(p.name.lower() in wanted for p in folder.iterdir() if p.is_dir())):
            return folder
    raise DataError(f"{root}: none of the class folders of classInd.txt found here or in {root / 'UCF-101'}")


def index_ucf101(root: PathLike, split: int = 1, on_error: str = "raise") -> SplitIndex:
    """Index a UCF-101-style data set: the official lists when present, else a bare class tree.

    ``root`` may be the folder holding ``ucfTrainTestlist/`` and ``UCF-101/`` (the
    official download unpacked), the ``UCF-101`` folder itself, or a tree of class
    folders.
    """
    _check_on_error(on_error)
    held_out_groups(split)  # validates split
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder does not exist")
    lists = _find_lists(root)
    if lists is None:
        video_root = root / "UCF-101" if (root / "UCF-101").is_dir() else root
        classes, videos, skipped = scan_class_folders(video_root, on_error)
        train, test = group_split(videos, split)
        return SplitIndex(classes, train, test, split, "folders", skipped)
    classes = read_class_index(lists / "classInd.txt")
    video_root = _find_video_root(root, lists, classes)
    train, skipped = read_split_list(lists / f"trainlist{split:02d}.txt", classes, video_root, on_error)
    test, skipped_test = read_split_list(lists / f"testlist{split:02d}.txt", classes, video_root, on_error)
    return SplitIndex(classes, train, test, split, "official", skipped + skipped_test)


# ---------------------------------------------------------------------------- 2. decode and cache

def _check_riff_length(path: Path) -> None:
    """An AVI (RIFF) file states its own length; a shorter file was cut off."""
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) == 12 and head[:4] == b"RIFF":
        declared = int.from_bytes(head[4:8], "little") + 8
        actual = path.stat().st_size
        if actual < declared:
            raise DataError(f"{path}: truncated video ({actual} of {declared} bytes)")


def _resized_shape(width: int, height: int, size: int) -> Tuple[int, int]:
    """(width, height) with the short side ``size`` and the aspect kept."""
    if width >= height:
        return max(size, round(width * size / height)), size
    return size, max(size, round(height * size / width))


def decode_video(path: PathLike, size: int, stride: int = 1, fps: Optional[float] = None) -> np.ndarray:
    """Decode a video to uint8 ``(N, size, size, 3)``: short side resized to ``size``, centre crop.

    fps:    if given, first resample time to this frame rate (frames are repeated or
            dropped, nearest in time), so videos filmed at 30 and 25 fps move alike.
    stride: then keep every ``stride``-th frame.

    Each frame is shrunk as soon as it is decoded (libswscale's area filter, which
    averages instead of aliasing), so a long video never sits in memory at full size
    (``video.read_video`` keeps full frames, fine for short clips only).
    Raises ``DataError`` naming the file when it is missing, truncated, corrupt, or
    has no frames.
    """
    import av

    path = Path(path)
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    _check_riff_length(path)
    out: List[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            src_fps = float(stream.average_rate) if stream.average_rate else None
            step_out = 1.0 / fps if fps and src_fps else None
            next_t, kept = 0.0, 0   # time of the next output frame; frames emitted so far
            for i, frame in enumerate(container.decode(stream)):
                if step_out is None:
                    repeats = 1
                else:
                    # this frame is on screen from i/src_fps until (i+1)/src_fps
                    end, repeats = (i + 1) / src_fps, 0
                    while next_t < end - 1e-9:
                        repeats, next_t = repeats + 1, next_t + step_out
                for _ in range(repeats):
                    if kept % stride == 0:
                        w, h = _resized_shape(frame.width, frame.height, size)
                        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
                        y0, x0 = (h - size) // 2, (w - size) // 2
                        out.append(rgb[y0:y0 + size, x0:x0 + size])
                    kept += 1
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as e:
        what = "cannot open video" if not out else f"decoding failed after {len(out)} frames"
        raise DataError(f"{path}: corrupt video, {what} ({type(e).__name__}: {e})") from None
    if not out:
        raise DataError(f"{path}: video has no frames")
    return np.stack(out)


def _atomic_save_npy(array: np.ndarray, dest: Path) -> None:
    # a crash never leaves half a cache file
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _decode_job(path: str, dest: str, size: int, stride: int, fps: Optional[float]) -> Tuple[int, Optional[str]]:
    """Decode one video into the cache. Runs in the main process or a pool: errors come back as text."""
    try:
        frames = decode_video(path, size, stride, fps)
        _atomic_save_npy(frames, Path(dest))
        return len(frames), None
    except DataError as e:
        return 0, str(e)
    except Exception as e:  # anything else still names the file rather than killing the pool
        return 0, f"{path}: cannot decode video ({type(e).__name__}: {e})"


class FrameCache:
    """Decoded videos as uint8 ``(N, S, S, 3)`` ``.npy`` files, one per (video, settings).

    folder/``{S}px-stride{k}[-{fps}fps]``/``{stem}-{key}.npy``, where the key hashes
    the video's absolute path, byte size and modification time.
    """

    def __init__(self, folder: PathLike, size: int, stride: int = 1, fps: Optional[float] = None):
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.root = Path(folder)
        self.size, self.stride, self.fps = size, stride, fps
        name = f"{size}px-stride{stride}" + (f"-{fps:g}fps" if fps else "")
        self.folder = self.root / name

    def path_for(self, video: PathLike) -> Path:
        video = Path(video).resolve()
        st = video.stat()
        key = json.dumps([CACHE_VERSION, str(video), st.st_size, st.st_mtime_ns, self.size, self.stride, self.fps])
        return self.folder / f"{video.stem}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"

    def _valid(self, dest: Path) -> int:
        """Frames in a finished cache file, 0 if there is none (or it is not one)."""
        try:
            a = np.load(dest, mmap_mode="r")
        except (OSError, ValueError):
            return 0
        ok = a.dtype == np.uint8 and a.ndim == 4 and a.shape[1:] == (self.size, self.size, 3)
        return a.shape[0] if ok else 0

    def prepare(self, videos: Sequence[Video], on_error: str = "raise", progress: bool = True, workers: int = 0,
                desc: str = "decoding videos") -> Tuple[List[Video], List[Path], List[int], List[str]]:
        """Make sure every video is cached; decode only those that are not.

        Returns (videos kept, their cache files, their frame counts, skipped messages).
        ``workers`` > 0 decodes in that many processes; 0 decodes here.
        """
        _check_on_error(on_error)
        kept, files, lengths, skipped = [], [], [], []
        todo = []  # (position in videos, cache file)
        slots: List[Optional[Tuple[Path, int]]] = [None] * len(videos)
        for i, v in enumerate(videos):
            if not v.path.is_file():
                msg = f"{v.path}: no such video file"
                if on_error == "raise":
                    raise DataError(msg)
                skipped.append(msg)
                continue
            dest = self.path_for(v.path)
            n = self._valid(dest)
            if n:
                slots[i] = (dest, n)
            else:
                todo.append((i, dest))
        if todo:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DataError(f"{self.folder}: cannot create the cache folder ({e.strerror}); "
                                f"choose another with cache_dir= (vgan --cache)") from None
        bar = tqdm(total=len(todo), desc=desc, unit="video", disable=not progress or not todo, dynamic_ncols=True)
        args = [(str(videos[i].path), str(dest), self.size, self.stride, self.fps) for i, dest in todo]
        try:
            if workers > 0 and len(todo) > 1:
                with ProcessPoolExecutor(workers) as pool:
                    results = []
                    for r in pool.map(_decode_job, *zip(*args), chunksize=4):
                        results.append(r)
                        bar.update(1)
            else:
                results = []
                for a in args:
                    results.append(_decode_job(*a))
                    bar.update(1)
        finally:
            bar.close()
        for (i, dest), (n, error) in zip(todo, results):
            if error is not None:
                if on_error == "raise":
                    raise DataError(error)
                skipped.append(error)
            else:
                slots[i] = (dest, n)
        for v, slot in zip(videos, slots):
            if slot is not None:
                kept.append(v)
                files.append(slot[0])
                lengths.append(slot[1])
        return kept, files, lengths, skipped


# ---------------------------------------------------------------------------- 3. sample

def take_window(frames: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` frames from ``start``; past the end the last frame repeats (the original's padding)."""
    window = np.array(frames[start:start + length])  # a copy: ``frames`` may be a read-only memory map
    if len(window) < length:
        last = window[-1:] if len(window) else np.asarray(frames[-1:])
        window = np.concatenate([window, np.repeat(last, length - len(window), axis=0)])
    return window


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, S, S, 3), or grey (T, S, S), -> float (3, T, S, S) in [-1, 1], the GAN's clip format."""
    frames = np.asarray(frames)
    if not frames.flags.writeable:
        frames = frames.copy()  # torch wants memory it may write to
    x = torch.from_numpy(np.ascontiguousarray(frames))
    if x.dim() == 3:
        x = x.unsqueeze(-1)
    if x.shape[-1] == 1:
        x = x.expand(-1, -1, -1, 3)
    return x.permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)


def stratified_subset(labels: Sequence[int], fraction: float, seed: int = 0) -> List[int]:
    """Indices of a seeded ``fraction`` of each class (at least one per class), in input order.

    Taking the fraction per class keeps the class balance of the full set, so a
    label-efficiency curve measures fewer labels, not a different task.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = list(labels)
    if fraction == 1:
        return list(range(len(labels)))
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        take = max(1, round(fraction * len(members)))
        order = torch.randperm(len(members), generator=g)[:take].tolist()
        chosen += [members[j] for j in order]
    return sorted(chosen)


class _CachedVideos(torch.utils.data.Dataset):
    """Cached videos and labels; items read only the uint8 cache (safe in DataLoader workers)."""

    def __init__(self, videos: Sequence[Video], files: Sequence[Path], lengths: Sequence[int], frames: int):
        self.videos, self.files, self.lengths = list(videos), list(files), list(lengths)
        self.labels = [v.label for v in self.videos]
        self.frames = frames

    def __len__(self) -> int:
        return len(self.videos)

    def _read(self, i: int, start: int) -> torch.Tensor:
        # mmap: only the window's frames are read from disk
        frames = np.load(self.files[i], mmap_mode="r")
        return to_clip(take_window(frames, start, self.frames))


class TrainClips(_CachedVideos):
    """One random window of T frames per video: items ``(clip (3, T, S, S), label)``.

    The window starts are drawn for a whole epoch at once by ``set_epoch`` from a
    ``torch.Generator`` seeded with (seed, epoch), so they are the same with any
    number of DataLoader workers and in every run with the same seed.
    """

    def __init__(self, videos, files, lengths, frames: int, seed: int = 0):
        super().__init__(videos, files, lengths, frames)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        u = torch.rand(len(self.videos), generator=g, dtype=torch.float64).tolist()
        # a video of N frames has N - T + 1 windows (one, padded, when N < T)
        self.starts = [int(x * max(n - self.frames + 1, 1)) for x, n in zip(u, self.lengths)]

    def subset(self, indices: Sequence[int], seed: Optional[int] = None) -> "TrainClips":
        """The videos at ``indices``, windows drawn with ``seed`` (default: this set's seed)."""
        return TrainClips([self.videos[i] for i in indices], [self.files[i] for i in indices],
                          [self.lengths[i] for i in indices], self.frames, self.seed if seed is None else seed)

    def label_fraction(self, fraction: float, seed: int = 0) -> "TrainClips":
        """A seeded, class-stratified ``fraction`` of the videos (see ``stratified_subset``).

        ``seed`` picks the videos and, in the returned set, the windows.
        """
        return self.subset(stratified_subset(self.labels, fraction, seed), seed)

    def __getitem__(self, i: int):
        return self._read(i, self.starts[i]), self.labels[i]


class TestVideos(_CachedVideos):
    """``windows`` evenly spaced windows per video: items ``(clips (W, 3, T, S, S), label)``.

    A classifier's answers on the W windows are averaged into one answer per video.
    Every video gives W windows (a short one repeats its single window), so items batch.
    """

    def __init__(self, videos, files, lengths, frames: int, windows: int = 5):
        super().__init__(videos, files, lengths, frames)
        if windows < 1:
            raise ValueError(f"windows must be at least 1, got {windows}")
        self.windows = windows

    def starts(self, i: int) -> List[int]:
        last = max(self.lengths[i] - self.frames, 0)
        return [int(round(s)) for s in np.linspace(0, last, self.windows)]

    def __getitem__(self, i: int):
        frames = np.load(self.files[i], mmap_mode="r")
        clips = [to_clip(take_window(frames, s, self.frames)) for s in self.starts(i)]
        return torch.stack(clips), self.labels[i]


@dataclass
class UCF101Data:
    """What ``load_ucf101`` returns: the classes and the two cached sets of one split."""

    classes: List[str]
    train: TrainClips
    test: TestVideos
    index: SplitIndex
    cache: FrameCache
    frames: int
    size: int
    skipped: List[str]

    @property
    def settings(self) -> dict:
        """The preprocessing, stored with a classifier so evaluation can repeat it."""
        return {"split": self.index.split, "frames": self.frames, "size": self.size, "stride": self.cache.stride,
                "fps": self.cache.fps, "windows": self.test.windows}

    def __str__(self) -> str:
        return (f"{len(self.classes)} classes ({self.index.layout} layout, split {self.index.split}): "
                f"{len(self.train)} train / {len(self.test)} test videos; clips {self.frames}x{self.size}x{self.size}, "
                f"stride {self.cache.stride}; {len(self.skipped)} skipped")


def load_ucf101(root: PathLike, cfg: VideoGANConfig, split: int = 1, *, stride: int = 1,
                fps: Optional[float] = None, windows: int = 5, cache_dir: Optional[PathLike] = None,
                on_error: str = "raise", seed: int = 0, progress: bool = True, workers: int = 0) -> UCF101Data:
    """Index, decode (once) and wrap one split of a UCF-101-style data set for a model config.

    cfg:       gives T = cfg.frames and S = cfg.size.
    cache_dir: where decoded frames go (default ``root/.vgan-cache``).
    on_error:  "raise" stops at the first bad video with its name; "skip" leaves bad
               videos out, warns once, and lists every message in ``.skipped``.
    workers:   decoding processes for the first pass (0: decode in this process).
    """
    _check_on_error(on_error)
    index = index_ucf101(root, split, on_error)
    return load_split(index, root, cfg, stride=stride, fps=fps, windows=windows, cache_dir=cache_dir,
                      on_error=on_error, seed=seed, progress=progress, workers=workers)


def load_split(index: SplitIndex, root: PathLike, cfg: VideoGANConfig, *, stride: int = 1,
               fps: Optional[float] = None, windows: int = 5, cache_dir: Optional[PathLike] = None,
               on_error: str = "raise", seed: int = 0, progress: bool = True, workers: int = 0) -> UCF101Data:
    """Decode (once) and wrap the videos of an already built ``SplitIndex``; arguments as ``load_ucf101``."""
    cache = FrameCache(cache_dir if cache_dir is not None else Path(root) / ".vgan-cache", cfg.size, stride, fps)
    skipped = list(index.skipped)
    sets = {}
    for name, videos in (("train", index.train), ("test", index.test)):
        kept, files, lengths, bad = cache.prepare(videos, on_error, progress, workers, desc=f"decoding {name} videos")
        skipped += bad
        sets[name] = (kept, files, lengths)
    if skipped:
        # stacklevel 3: the warning points at the caller of load_ucf101 / load_classes
        warnings.warn(f"skipped {len(skipped)} video(s) or line(s); see .skipped. First: {skipped[0]}", stacklevel=3)
    train = TrainClips(*sets["train"], frames=cfg.frames, seed=seed)
    test = TestVideos(*sets["test"], frames=cfg.frames, windows=windows)
    return UCF101Data(index.classes, train, test, index, cache, cfg.frames, cfg.size, skipped)
