"""The golf data format: a list file naming one JPEG "strip" per line (path, then a label in the labelled
variant), relative to a data root. A strip is one clip, its square frames stacked vertically (W x n*W)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from .errors import DataError
from .files import PathLike, list_lines, wrong_file

__all__ = ["read_list_file", "load_strip", "GolfClips"]


def read_list_file(list_file: PathLike, labelled: bool = False) -> list[tuple[str, int | None]]:
    """(relative path, label or None) for every non-blank line of a list file."""
    list_file, entries = Path(list_file), []
    for lineno, tokens in list_lines(list_file, "list file"):
        if labelled and len(tokens) < 2:
            raise DataError(f"{list_file}:{lineno}: labelled list line has no label: {tokens[0]!r}")
        try:
            entries.append((tokens[0], int(tokens[1]) if labelled else None))
        except ValueError:
            raise DataError(f"{list_file}:{lineno}: label {tokens[1]!r} is not an integer") from None
    if not entries:
        raise DataError(f"{list_file}: list file is empty")
    return entries


def load_strip(path: PathLike, frames: int = 32, size: int = 64) -> torch.Tensor:
    """One clip from a vertical strip: (3, frames, size, size) float32 in [-1, 1], as the original loads it:
    frames 1..T from the top (the last one repeated when short), resized bilinearly, no crop, flip or jitter."""
    path = Path(path)
    try:  # a JPEG (or any PIL image) as uint8 (H, W, 3); grey images become RGB
        with Image.open(path) as img:
            pixels = np.array(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: listed clip is missing") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image" + (f" ({bad})" if (bad := wrong_file(path)) else "")) from None
    except Image.DecompressionBombError as e:  # a damaged or hostile header claiming a vast image
        raise DataError(f"{path}: image too large to decode safely ({str(e).split(', ')[0]})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: truncated or unreadable image ({e})") from None
    h, w = pixels.shape[:2]
    if w == 0 or h % w:
        raise DataError(f"{path}: strip height {h} is not a multiple of its width {w}")
    n = min(h // w, frames)
    clip = torch.from_numpy(pixels[: n * w].reshape(n, w, w, 3)).permute(0, 3, 1, 2).float().div_(255.0)
    if w != size:
        clip = F.interpolate(clip, size=(size, size), mode="bilinear", align_corners=False)
    if n < frames:
        # the original repeats the last frame of a short clip
        clip = torch.cat([clip, clip[-1:].expand(frames - n, -1, -1, -1)], dim=0)
    return clip.mul_(2.0).sub_(1.0).permute(1, 0, 2, 3).contiguous()


class GolfClips(torch.utils.data.Dataset):
    """Clips (3, T, H, W) in [-1, 1], or ``(clip, label)`` when ``labelled``, of a golf-format list file whose
    paths are relative to ``root`` (default: the list file's folder)."""
    # every listed file must exist now, not hours into training inside a DataLoader worker

    def __init__(self, list_file: PathLike, root: PathLike | None = None, frames: int = 32, size: int = 64,
                 labelled: bool = False, in_memory: bool = False, progress: bool = False):
        self.list_file = Path(list_file)
        self.root = Path(root) if root is not None else self.list_file.parent
        if not self.root.is_dir():
            raise DataError(f"{self.root}: data root is not a folder")
        self.frames, self.size, self.labelled = frames, size, labelled
        self.entries = read_list_file(self.list_file, labelled)
        for rel, _ in self.entries:
            if not (self.root / rel).is_file():
                raise DataError(f"{self.root / rel}: listed in {self.list_file} but missing")
        # in_memory: every clip decoded once and kept as uint8 (N, 3, T, H, W), to the nearest of 256 levels and 1/4
        # of float32's memory, so that decoding JPEGs no longer competes with training for the CPU
        self.clips = None
        if in_memory:
            self.clips = torch.empty(len(self), 3, frames, size, size, dtype=torch.uint8)
            for i in tqdm(range(len(self)), desc="load clips", unit="clip", disable=not progress, dynamic_ncols=True):
                self.clips[i] = load_strip(self.path(i), frames, size).add_(1).mul_(127.5).round_()

    def __len__(self) -> int:
        return len(self.entries)

    def path(self, i: int) -> Path:
        return self.root / self.entries[i][0]

    def __getitem__(self, i: int):
        if self.clips is not None:
            clip = self.clips[i].float().div_(127.5).sub_(1.0)
        else:
            clip = load_strip(self.path(i), self.frames, self.size)
        return (clip, self.entries[i][1]) if self.labelled else clip
