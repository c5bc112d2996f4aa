"""A synthetic stand-in for the golf data, written as golf strips with a list file (read by ``GolfClips``).

Each clip is a still camera's view of a static scene (sky, horizon, striped ground, blocks) with shaded objects sliding,
bouncing or circling over it: a background that stays, a foreground that moves, a mask between them."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .files import dataset_is_current, ensure_writable_dir, run_jobs, write_manifest, write_text_atomic
from .options import check_fields, option

__all__ = ["SyntheticSpec", "render_clip", "make_synthetic"]

MOTIONS = ("slide", "fall", "orbit")
KINDS = ("ball", "box")


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate; clip ``i`` of a seed is the same whatever ``count``. ``min_frames`` < ``frames`` varies
    clip lengths (the loader repeats the last frame of a short clip, as with the real strips)."""

    count: int = option(5000, "number of clips", at_least=1)
    frames: int = option(32, "frames per clip", at_least=1)
    size: int = option(64, "frame side in pixels", at_least=8)
    seed: int = option(0, "data seed", at_least=0)
    max_objects: int = option(2, "moving objects per clip, at most", at_least=1)
    min_frames: int | None = option(None, "if set, clip lengths vary from this to frames", at_least=1, kind=int)
    quality: int = option(92, "JPEG quality", at_least=1, below=101)

    def __post_init__(self):
        check_fields(self)
        if self.min_frames is not None and self.min_frames > self.frames:
            raise ValueError(f"min_frames {self.min_frames} is larger than frames {self.frames}")


# ---------------------------------------------------------------------------- drawing

def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    # value noise: a random (cells x cells) grid upsampled bilinearly to (size, size), in [0, 1]
    grid = rng.random((cells + 1, cells + 1))
    t = np.linspace(0, cells, size, endpoint=False)
    i = t.astype(int)
    f = t - i
    f = f * f * (3 - 2 * f)  # smoothstep hides the grid
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _background(rng: np.random.Generator, size: int) -> tuple:
    # a static scene (size, size, 3) in [0, 1] and the ground line's row
    yy, xx = np.mgrid[0:size, 0:size] / size
    horizon = rng.uniform(0.25, 0.55)
    sky_top, sky_low = rng.uniform(0.35, 0.95, 3), rng.uniform(0.5, 1.0, 3)
    sky = sky_top + (sky_low - sky_top) * (yy / max(horizon, 1e-3))[..., None]
    sky = sky + 0.15 * (_smooth_noise(rng, size, 4)[..., None] - 0.5)

    ground_colour = rng.uniform(0.15, 0.75, 3)
    angle, period = rng.uniform(0, np.pi), rng.uniform(0.08, 0.25)
    stripes = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    grain = _smooth_noise(rng, size, max(4, size // 4))
    ground = ground_colour * (1 + 0.12 * stripes[..., None] + 0.25 * (grain[..., None] - 0.5))

    scene = np.where((yy < horizon)[..., None], sky, ground)
    for _ in range(rng.integers(1, 4)):  # static blocks standing on the horizon
        w, h = rng.uniform(0.06, 0.2), rng.uniform(0.1, 0.35)
        x0 = rng.uniform(0, 1 - w)
        inside = (xx >= x0) & (xx < x0 + w) & (yy >= horizon - h) & (yy < horizon + 0.02)
        shade = 0.8 + 0.2 * (xx - x0) / w
        scene = np.where(inside[..., None], rng.uniform(0.05, 0.6, 3) * shade[..., None], scene)
    return np.clip(scene, 0, 1).astype(np.float32), horizon


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # fold a straight path back into [lo, hi]: the position of a point bouncing off two walls
    span = max(hi - lo, 1e-6)
    u = np.mod(x - lo, 2 * span)
    return lo + np.where(u < span, u, 2 * span - u)


def _trajectory(rng: np.random.Generator, frames: int, radius: float, ground: float) -> tuple:
    # the motion's name and (frames, 2) centres (x, y) in units of the frame side
    t = np.arange(frames, dtype=np.float64)
    motion = MOTIONS[rng.integers(len(MOTIONS))]
    lo, hi = radius, 1 - radius
    if motion == "slide":
        speed, a = rng.uniform(0.012, 0.03), rng.uniform(0, 2 * np.pi)
        x0, y0 = rng.uniform(lo, hi, 2)
        x = _reflect(x0 + speed * np.cos(a) * t, lo, hi)
        y = _reflect(y0 + speed * np.sin(a) * t, lo, hi)
    elif motion == "fall":
        # a ball dropped or thrown, bouncing on the ground line with some loss
        floor = min(max(ground + rng.uniform(0.1, 0.35), 0.5), hi)
        x = _reflect(rng.uniform(lo, hi) + rng.uniform(-0.02, 0.02) * t, lo, hi)
        y = np.empty(frames)
        pos, vel, g = rng.uniform(lo, floor - 0.2), rng.uniform(-0.01, 0.01), rng.uniform(0.003, 0.006)
        for i in range(frames):
            y[i] = pos
            vel += g
            pos += vel
            if pos > floor:
                pos, vel = floor - (pos - floor), -0.8 * vel
    else:  # orbit
        cx, cy = rng.uniform(0.35, 0.65, 2)
        r = rng.uniform(0.12, min(cx, 1 - cx, cy, 1 - cy) - radius + 0.05)
        w, p = rng.choice([-1, 1]) * rng.uniform(0.1, 0.25), rng.uniform(0, 2 * np.pi)
        x, y = cx + r * np.cos(p + w * t), cy + r * np.sin(p + w * t)
    return motion, np.stack([x, y], axis=1)


def render_clip(index: int, frames: int = 32, size: int = 64, seed: int = 0, max_objects: int = 2,
                factors: list | None = None) -> np.ndarray:
    """Clip ``index`` of data set ``seed``: uint8 (frames, size, size, 3). ``factors``, if a list, receives what
    was drawn: one ``(kind, motion)`` per object, e.g. ``("ball", "orbit")``, kinds from ``KINDS``."""
    rng = np.random.default_rng([seed, index])
    scene, horizon = _background(rng, size)
    video = np.repeat(scene[None], frames, axis=0)
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    for _ in range(rng.integers(1, max_objects + 1)):
        radius = rng.uniform(0.07, 0.14)
        colour = rng.uniform(0.0, 1.0, 3)
        colour[rng.integers(3)] = rng.uniform(0.85, 1.0)  # keep objects vivid against the scene
        colour = colour.astype(np.float32)
        square = rng.random() < 0.35
        motion, path = _trajectory(rng, frames, radius, horizon)
        if factors is not None:
            factors.append((KINDS[square], motion))
        for t, (cx, cy) in enumerate(path):
            # draw only inside the object's bounding box
            x0, x1 = max(int((cx - radius) * size) - 1, 0), min(int((cx + radius) * size) + 2, size)
            y0, y1 = max(int((cy - radius) * size) - 1, 0), min(int((cy + radius) * size) + 2, size)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = centres[None, x0:x1] - np.float32(cx)
            dy = centres[y0:y1, None] - np.float32(cy)
            dist = np.maximum(np.abs(dx), np.abs(dy)) if square else np.sqrt(dx * dx + dy * dy)
            # anti-aliased edge one pixel wide, and light from the top left
            alpha = np.clip((radius - dist) * size + 0.5, 0, 1)[..., None]
            light = 1.0 - 0.45 * np.clip((dx + dy) / (2 * radius) + 0.5, 0, 1)[..., None]
            patch = video[t, y0:y1, x0:x1]
            patch += alpha * (colour * light - patch)
    return (np.clip(video, 0, 1) * 255 + 0.5).astype(np.uint8)


def _write_clip(out: str, spec: SyntheticSpec, i: int) -> tuple:
    frames = spec.frames
    if spec.min_frames is not None and spec.min_frames < spec.frames:
        frames = int(np.random.default_rng([spec.seed, i, 1]).integers(spec.min_frames, spec.frames + 1))
    factors = []
    clip = render_clip(i, frames, spec.size, spec.seed, spec.max_objects, factors)
    rel = f"clips/{i // 1000:03d}/{i:06d}.jpg"
    dest = Path(out) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(clip.reshape(frames * spec.size, spec.size, 3)).save(dest, quality=spec.quality)
    return rel, " ".join(f"{kind}-{motion}" for kind, motion in factors)


def make_synthetic(out_dir: str | Path, spec: SyntheticSpec = SyntheticSpec(), workers: int | None = None,
                   progress: bool = True, overwrite: bool = False) -> Path:
    """Write ``spec.count`` clips, ``train.txt`` and ``factors.txt`` (each clip's path, then one ``kind-motion``
    per object, e.g. ``ball-orbit``) under ``out_dir``; return the list file. A folder that already holds the same
    spec (``synthetic.json``) is left as it is, so notebooks can call this on every run."""
    out, wanted = Path(out_dir), asdict(spec)
    list_file = out / "train.txt"
    if not overwrite and dataset_is_current(out, "synthetic.json", wanted, "train.txt", "factors.txt"):
        return list_file
    ensure_writable_dir(out)
    (out / "synthetic.json").unlink(missing_ok=True)

    lines = list(run_jobs(_write_clip, [(str(out), spec, i) for i in range(spec.count)],
                          workers or min(os.cpu_count() or 1, 8), "synthetic clips", "clip", progress, chunksize=64))
    write_text_atomic(list_file, "".join(rel + "\n" for rel, _ in lines))
    write_text_atomic(out / "factors.txt", "".join(f"{rel} {drawn}\n" for rel, drawn in lines))
    write_manifest(out, "synthetic.json", wanted)
    return list_file
