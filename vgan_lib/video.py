"""Video out: tensors to uint8 frames, mediapy (and so ffmpeg) for showing and writing."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

__all__ = ["to_uint8", "upscale", "tile_videos", "ensure_ffmpeg", "write_video", "write_video_grid", "show_videos"]

def to_uint8(video: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    """Videos (B, 3, T, H, W) in [-1, 1], or masks (B, 1, T, H, W) in [0, 1] (as grey), to uint8 frames
    (B, T, H, W, 3); without B, (C, T, H, W) -> (T, H, W, 3)."""
    x = torch.as_tensor(video).detach().float().cpu()
    single = x.dim() == 4
    x = x.unsqueeze(0) if single else x
    if x.dim() != 5:
        raise ValueError(f"expected (B, C, T, H, W) or (C, T, H, W), got shape {tuple(x.shape)}")
    # a mask (one channel, [0, 1]) becomes grey; a video's [-1, 1] maps to [0, 255]
    x = x.clamp(0, 1).expand(-1, 3, -1, -1, -1) * 255.0 if x.shape[1] == 1 else (x.clamp(-1, 1) + 1) * 127.5
    out = x.round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()
    return out[0] if single else out


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of (..., H, W, C) frames, so small videos stay crisp."""
    return frames if factor <= 1 else frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def tile_videos(videos: np.ndarray, columns: Optional[int] = None, pad: int = 1) -> np.ndarray:
    """(N, T, H, W, 3) -> one (T, H', W', 3) video with the clips in a grid."""
    n, t, h, w, c = videos.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.full((t, rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, dtype=videos.dtype)
    for i in range(n):
        r, k = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, y:y + h, x:x + w] = videos[i]
    return grid


@cache
def ensure_ffmpeg() -> str:
    """Point mediapy at an ffmpeg program, once: the one on PATH, else imageio-ffmpeg's bundled binary."""
    # a fresh machine often has none on its PATH
    import mediapy

    path = shutil.which("ffmpeg")
    if path is None:
        try:
            import imageio_ffmpeg
        except ImportError:
            raise RuntimeError("no ffmpeg found: install the imageio-ffmpeg package or a system ffmpeg") from None
        path = imageio_ffmpeg.get_ffmpeg_exe()
    mediapy.set_ffmpeg(path)
    return path


def _even(frames: np.ndarray) -> np.ndarray:
    # H.264 with yuv420p needs even sides
    t, h, w = frames.shape[:3]
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if (h % 2 or w % 2) else frames


def write_video(path: Union[str, Path], frames: np.ndarray, fps: float = 8, scale: int = 1) -> Path:
    """Write uint8 frames (T, H, W, 3) as .mp4 (H.264) or .gif, chosen by the suffix."""
    import mediapy

    ensure_ffmpeg()
    path = Path(path)
    codec = "gif" if path.suffix.lower() == ".gif" else "h264"
    frames = upscale(np.asarray(frames), scale)
    mediapy.write_video(path, _even(frames) if codec == "h264" else frames, fps=fps, codec=codec)
    return path


def write_video_grid(path: Union[str, Path], videos: np.ndarray, fps: float = 8, scale: int = 2,
                     columns: Optional[int] = None) -> Path:
    """Write a batch of uint8 clips (N, T, H, W, 3) as one video with the clips tiled."""
    return write_video(path, tile_videos(videos, columns), fps=fps, scale=scale)


def show_videos(videos: Union[Mapping[str, np.ndarray], Sequence[np.ndarray]], fps: float = 8,
                scale: int = 4, columns: Optional[int] = None, codec: str = "h264", **kwargs):
    """Show uint8 clips (T, H, W, 3) in a notebook, enlarged ``scale`` times without blur."""
    import mediapy

    ensure_ffmpeg()
    def big(v):
        return _even(upscale(np.asarray(v), scale))

    videos = {k: big(v) for k, v in videos.items()} if isinstance(videos, Mapping) else [big(v) for v in videos]
    return mediapy.show_videos(videos, fps=fps, columns=columns, codec=codec, **kwargs)

