"""UCF-101 (or anything laid out like it) as clips of the GAN's shape ``(3, T, S, S)`` in [-1, 1]:
``TrainClips`` (a random window per video and epoch), ``TestVideos`` (evenly spaced windows)."""
# No flipping: several generated classes differ only in the direction of motion.

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model import VideoGANConfig
from ..options import check_fields, option
from .decode import FrameCache
from .index import SplitIndex, Video, index_ucf101, select_classes


@dataclass(frozen=True)
class ClipSettings:
    """How videos become clips; saved with a classifier so evaluation repeats it."""

    split: int = option(1, "official split 1, 2 or 3", choices=(1, 2, 3))
    stride: int = option(1, "keep every k-th frame, so a clip spans k times longer", at_least=1)
    fps: float | None = option(None, "resample every video to this frame rate first", above=0, kind=float)
    windows: int = option(5, "test windows averaged per video", at_least=1)

    def __post_init__(self):
        check_fields(self)


def take_window(frames: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` frames from ``start``; past the end the last frame repeats (the original's padding)."""
    return np.array(frames[np.minimum(np.arange(start, start + length), len(frames) - 1)])  # a copy of a memmap


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, S, S, 3), or grey (T, S, S), -> float (3, T, S, S) in [-1, 1], the GAN's clip format."""
    x = torch.from_numpy(np.array(frames))  # a writable copy, as torch wants
    x = x.unsqueeze(-1) if x.dim() == 3 else x
    return x.expand(-1, -1, -1, 3).permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)


def stratified_subset(labels: list[int], fraction: float, seed: int = 0) -> list[int]:
    """Indices of a seeded ``fraction`` of each class (at least one), in input order."""
    # per class: fewer labels, the same class balance
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels, g, chosen = list(labels), torch.Generator().manual_seed(seed), []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        take = max(1, round(fraction * len(members)))
        chosen += [members[j] for j in torch.randperm(len(members), generator=g)[:take].tolist()]
    return sorted(chosen)


class _CachedVideos(torch.utils.data.Dataset):
    # items read only the uint8 cache (memory-mapped: just the window's frames), safe in DataLoader workers
    def __init__(self, videos: list[Video], files: list[Path], lengths: list[int], frames: int):
        self.videos, self.files, self.lengths = list(videos), list(files), list(lengths)
        self.labels, self.frames = [v.label for v in self.videos], frames

    def __len__(self) -> int:
        return len(self.videos)

    def _clips(self, i: int, starts: list[int]) -> list[torch.Tensor]:
        frames = np.load(self.files[i], mmap_mode="r")
        return [to_clip(take_window(frames, s, self.frames)) for s in starts]


class TrainClips(_CachedVideos):
    """One random window of T frames per video: items ``(clip (3, T, S, S), label)``."""
    # set_epoch draws an epoch's starts seeded by (seed, epoch): the same with any number of workers

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

    def subset(self, indices: list[int], seed: int | None = None) -> "TrainClips":
        return TrainClips([self.videos[i] for i in indices], [self.files[i] for i in indices],
                          [self.lengths[i] for i in indices], self.frames, self.seed if seed is None else seed)

    def label_fraction(self, fraction: float, seed: int = 0) -> "TrainClips":
        return self.subset(stratified_subset(self.labels, fraction, seed), seed)

    def __getitem__(self, i: int):
        return self._clips(i, [self.starts[i]])[0], self.labels[i]


class TestVideos(_CachedVideos):
    """``windows`` evenly spaced windows per video: items ``(clips (W, 3, T, S, S), label)``."""

    def __init__(self, videos, files, lengths, frames: int, windows: int = 5):
        super().__init__(videos, files, lengths, frames)
        self.windows = windows

    def starts(self, i: int) -> list[int]:
        return [int(round(s)) for s in np.linspace(0, max(self.lengths[i] - self.frames, 0), self.windows)]

    def __getitem__(self, i: int):
        return torch.stack(self._clips(i, self.starts(i))), self.labels[i]


@dataclass
class UCF101Data:
    """What ``load_ucf101`` returns: one split's classes and two sides."""

    classes: list[str]
    train: TrainClips
    test: TestVideos
    index: SplitIndex
    cache: FrameCache
    frames: int
    size: int
    skipped: list[str]

    @property
    def settings(self) -> dict:
        # stored with a classifier, so evaluation repeats the preprocessing
        return {"split": self.index.split, "frames": self.frames, "size": self.size, "stride": self.cache.stride,
                "fps": self.cache.fps, "windows": self.test.windows}

    def __str__(self) -> str:
        return (f"{len(self.classes)} classes ({self.index.layout} layout, split {self.index.split}): "
                f"{len(self.train)} train / {len(self.test)} test videos; clips {self.frames}x{self.size}x{self.size}, "
                f"stride {self.cache.stride}; {len(self.skipped)} skipped")


def load_ucf101(root, cfg: VideoGANConfig, split=1, *, stride=1, fps=None, windows=5, classes=None,
                cache_dir=None, on_error="raise", seed=0, progress=True, workers=0) -> UCF101Data:
    """Index, decode once (into ``cache_dir``, default ``root/.vgan-cache``) and wrap one split. ``classes``:
    only these (and only their videos decoded), relabelled 0..K-1 in the order given; ``on_error``: "raise"
    stops at the first bad video or line, naming it, "skip" keeps its message in ``.skipped``."""
    ClipSettings(split, stride, fps, windows)
    index = index_ucf101(root, split, on_error)
    if classes is not None:
        index = select_classes(index, classes)
    cache = FrameCache(cache_dir if cache_dir is not None else Path(root) / ".vgan-cache", cfg.size, stride, fps)
    train, test = (cache.prepare(vs, on_error, progress, workers, desc=f"decoding {name} videos")
                   for name, vs in (("train", index.train), ("test", index.test)))
    skipped = index.skipped + train[3] + test[3]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} video(s) or line(s); see .skipped. First: {skipped[0]}", stacklevel=2)
    return UCF101Data(index.classes, TrainClips(*train[:3], frames=cfg.frames, seed=seed), TestVideos(*test[:3],
                      frames=cfg.frames, windows=windows), index, cache, cfg.frames, cfg.size, skipped)
