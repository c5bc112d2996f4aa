"""A generated action set in UCF-101's own format (``.avi`` files, CRLF split lists). Each class is a way of *moving*;
clip c of group g shows the same scene and object in every class, so a still frame cannot tell the classes apart.
``ActionSpec(classes=2)`` is the earlier PyTorch port's YoYo vs Kayaking."""
# UCF-101 (6.5 GB) cannot be fetched from every machine. Like it, most videos are 320x240 at
# 25 fps (MPEG-4 part 2, as its xvid files), some have another size, aspect or rate, and
# lengths vary, some under 32 frames.

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache, wraps
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..files import atomic_path, dataset_is_current, ensure_writable_dir, run_jobs, write_manifest, write_text_atomic
from ..options import check_fields, option
from .index import held_out_groups


# ---------------------------------------------------------------------------- motions
# A motion maps times t (seconds, shape (N,)) to the object's centre (x, y), angle and
# scale, each (N,). Positions are in units of the frame's short side, measured from the frame
# centre (y points down), so a motion looks the same in any frame size. ``p`` holds
# the clip's random parameters: position, phase, direction.

def _wrap(x: np.ndarray, half_span: float) -> np.ndarray:
    # leave one side of the frame, come back on the other
    return np.mod(x + half_span, 2 * half_span) - half_span


def _tracks(motion):
    # the functions below give a constant for what stays the same; stretch every value to (N,)
    return wraps(motion)(lambda t, *rest: tuple(np.zeros_like(t) + v for v in motion(t, *rest)))


def _yoyo(t, r, p, aw, ah):
    # fast, large up-and-down oscillation about a fixed point
    y = p.y0 * 0.3 + r.uniform(0.28, 0.38) * np.sin(2 * np.pi * r.uniform(1.2, 1.8) * t + p.phase)
    return p.x0, y, p.angle, 1.0


def _kayaking(t, r, p, aw, ah):
    # a steady glide left or right with a small bob and tilt at each paddle stroke
    f = r.uniform(0.8, 1.4)
    x = _wrap(p.x0 + p.direction * r.uniform(0.25, 0.4) * t, aw / 2 + 0.3)
    bob, tilt = np.sin(4 * np.pi * f * t + p.phase), np.sin(2 * np.pi * f * t + p.phase)
    return x, p.y0 + 0.02 * bob, p.angle + 0.1 * tilt, 1.0


def _swing(t, r, p, aw, ah):
    # a pendulum: side to side, higher at both ends, tilting with the swing
    s, a = np.sin(2 * np.pi * r.uniform(0.6, 1.0) * t + p.phase), r.uniform(0.25, 0.35)
    return a * s, p.y0 * 0.3 - 0.35 * a * s * s, p.angle + 0.5 * s, 1.0


def _spinning(t, r, p, aw, ah):
    # turning in place
    return p.x0, p.y0, p.angle + p.direction * 2 * np.pi * r.uniform(0.6, 1.2) * t, 1.0


def _bouncing(t, r, p, aw, ah):
    # hops along a floor: |sin| height, slow drift sideways
    hop = np.abs(np.sin(np.pi * r.uniform(0.8, 1.3) * t + p.phase))
    x = _wrap(p.x0 + p.direction * r.uniform(0.05, 0.15) * t, aw / 2 + 0.2)
    return x, 0.3 - r.uniform(0.35, 0.5) * hop, p.angle, 1.0


def _circling(t, r, p, aw, ah):
    a, rad = p.phase + p.direction * 2 * np.pi * r.uniform(0.4, 0.8) * t, r.uniform(0.18, 0.28)
    return p.x0 * 0.5 + rad * np.cos(a), rad * np.sin(a), p.angle, 1.0


def _falling(t, r, p, aw, ah):
    # dropped from the top again and again, accelerating (gravity)
    g = r.uniform(1.2, 2.0)
    drop = np.sqrt(2 * (ah + 0.4) / g)            # seconds to fall through the frame
    tt = np.mod(t + p.phase / (2 * np.pi) * drop, drop)
    return p.x0, -ah / 2 - 0.2 + 0.5 * g * tt * tt, p.angle, 1.0


def _rising(t, r, p, aw, ah):
    # floats up at a steady speed with a gentle sway
    y = _wrap(p.y0 - r.uniform(0.35, 0.55) * t, ah / 2 + 0.2)
    return p.x0 + 0.03 * np.sin(2 * np.pi * 0.7 * t + p.phase), y, p.angle, 1.0


def _pulsing(t, r, p, aw, ah):
    # stays put, grows and shrinks
    return p.x0, p.y0, p.angle, 1 + 0.4 * np.sin(2 * np.pi * r.uniform(0.8, 1.4) * t + p.phase)


def _racing(t, r, p, aw, ah):
    # fast and straight across, lap after lap
    return _wrap(p.x0 + p.direction * r.uniform(0.9, 1.3) * t, aw / 2 + 0.2), p.y0, p.angle, 1.0


def _shaking(t, r, p, aw, ah):
    # jerky jitter around a point
    n = len(t)
    return p.x0 + r.uniform(-0.05, 0.05, n), p.y0 + r.uniform(-0.05, 0.05, n), p.angle + r.uniform(-0.25, 0.25, n), 1.0


# The order decides which classes ``classes=K`` takes: the first two are the binary task of the
# earlier PyTorch port. classInd.txt lists the chosen ones alphabetically, as UCF-101 does.
CATALOG = {name: _tracks(motion) for name, motion in dict(  # name -> motion
    YoYo=_yoyo, Kayaking=_kayaking, Swing=_swing, Spinning=_spinning, Bouncing=_bouncing, Circling=_circling,
    Falling=_falling, Rising=_rising, Pulsing=_pulsing, Racing=_racing, Shaking=_shaking).items()}

# other frame sizes (width, height) and rates some videos get; all even (yuv420p)
_ODD_SIZES = ((400, 224), (176, 144), (352, 288), (240, 320), (320, 180))
_ODD_FPS = (30, 15)


@dataclass(frozen=True)
class ActionSpec:
    """What ``make_actions`` writes; video (class, group, clip) is the same whatever else is generated."""
    # odd_fraction: videos of another frame size (half of them another rate); clutter: static blocks
    # and a still look-alike in each scene, a harder set where a small network learns the scenes

    classes: int = option(10, "number of classes K, 1-11: the first K motions", at_least=1, below=len(CATALOG) + 1)
    groups: int = option(25, "groups per class (UCF-101: 25)", at_least=3)
    clips_per_group: int = option(4, "videos per group (UCF-101: 4-7)", at_least=1)
    seed: int = option(0, "data seed", at_least=0)
    frame_size: tuple[int, int] = (320, 240)
    fps: int = 25
    min_frames: int = 24
    max_frames: int = 48
    odd_fraction: float = 0.15
    clutter: bool = False
    codec: str = option("mpeg4", "video codec", choices=("mpeg4", "mjpeg"))

    def __post_init__(self):
        check_fields(self)
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if min(self.frame_size) < 16 or any(side % 2 for side in self.frame_size):
            raise ValueError(f"frame_size sides must be even and at least 16, got {self.frame_size}")

    def to_dict(self) -> dict:
        return {**asdict(self), "frame_size": list(self.frame_size)}


def class_names(k: int) -> list[str]:
    # classInd order: alphabetical
    return sorted(list(CATALOG)[:k])


def _file_name(cls: str, group: int, clip: int) -> str:
    return f"{cls}/v_{cls}_g{group:02d}_c{clip:02d}.avi"


# ---------------------------------------------------------------------------- drawing

def _scene(r: np.random.Generator, w: int, h: int, blocks: bool = True) -> np.ndarray:
    # a static background (h, w, 3) float32 in [0, 1]: a tilted two-colour gradient, soft blobs, blocks
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(w, h)
    a = r.uniform(0, 2 * np.pi)
    ramp = (np.cos(a) * xx + np.sin(a) * yy)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = r.uniform(0.05, 0.95, 3), r.uniform(0.05, 0.95, 3)
    img = c0 + (c1 - c0) * ramp[..., None]
    for _ in range(3):  # soft light and dark blobs
        cx, cy, s = r.uniform(0, w / max(w, h)), r.uniform(0, h / max(w, h)), r.uniform(0.1, 0.3)
        img += r.uniform(-0.15, 0.15) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))[..., None]
    for _ in range(r.integers(1, 4) if blocks else 0):  # static blocks, like furniture
        bw, bh = r.integers(w // 12, w // 4), r.integers(h // 12, h // 3)
        x0, y0 = r.integers(0, w - bw), r.integers(0, h - bh)
        img[y0:y0 + bh, x0:x0 + bw] = r.uniform(0.05, 0.95, 3)
    return np.clip(img, 0, 1).astype(np.float32)


class _Look:
    # an object's appearance, drawn independently of the class
    def __init__(self, r: np.random.Generator):
        self.shape = r.choice(["ellipse", "box"])
        self.a = r.uniform(0.16, 0.26)                 # half length, in short sides
        self.b = self.a * r.uniform(0.4, 0.6)          # half width: elongated, so turning shows
        self.colour = r.uniform(0, 1, 3)
        self.colour[r.integers(3)] = r.uniform(0.85, 1)  # vivid against most scenes
        self.tip = 1 - self.colour                      # one end marked in the opposite colour


def _draw(frame: np.ndarray, look: _Look, x: float, y: float, angle: float, scale: float, short: int) -> None:
    # paints in place, only inside the object's bounding box
    h, w = frame.shape[:2]
    cx, cy = w / 2 + x * short, h / 2 + y * short
    a, b = look.a * scale * short, look.b * scale * short
    x0, x1 = max(int(cx - (a + 1)), 0), min(int(cx + (a + 1)) + 1, w)
    y0, y1 = max(int(cy - (a + 1)), 0), min(int(cy + (a + 1)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy          # coordinates along and across the object
    inside = ((u / a) ** 2 + (v / b) ** 2 <= 1) if look.shape == "ellipse" else ((abs(u) <= a) & (abs(v) <= b))
    patch = frame[y0:y1, x0:x1]
    patch[inside] = look.colour
    patch[inside & (u > 0.45 * a)] = look.tip


@lru_cache(maxsize=16)
def _group_scene(seed: int, group: int, w: int, h: int, clutter: bool = True) -> tuple[np.ndarray, _Look]:
    # A group's scene, uint8 (h + 2m, w + 2m, 3) with m = 8 % of the short side, of which each clip
    # crops its own (h, w) view: a UCF-101 group shares a place, not the exact camera position.
    # The seed leaves the class out on purpose: group g shows the same object in the same place in
    # every class, so learning the training groups' scenes teaches nothing about the labels.
    g = np.random.default_rng([seed, group])
    short = min(w, h)
    scene = _scene(g, w + 2 * round(0.08 * short), h + 2 * round(0.08 * short), blocks=clutter)
    look = _Look(g)
    for _ in range(g.integers(0, 2) if clutter else 0):  # a static look-alike: shape alone is no clue
        _draw(scene, _Look(g), g.uniform(-0.4, 0.4) * w / short, g.uniform(-0.35, 0.35) * h / short,
              g.uniform(0, np.pi), 1.0, short)
    # paint straight into uint8 frames
    look.colour, look.tip = ((c * 255 + 0.5).astype(np.uint8) for c in (look.colour, look.tip))
    return (scene * 255 + 0.5).astype(np.uint8), look


def render_video(spec: ActionSpec, cls: str, group: int, clip: int) -> tuple[np.ndarray, int]:
    """Video ``clip`` of ``group`` of class ``cls``: (uint8 (N, H, W, 3), fps)."""
    # Two random streams: ``v`` (without the class) fixes all a still frame shows, ``r`` (with
    # the class) only the motion's numbers: clip c of group g is a minimal pair across classes.
    v = np.random.default_rng([spec.seed, group, clip])                            # the picture, shared by all classes
    r = np.random.default_rng([spec.seed, group, clip, 1 + list(CATALOG).index(cls)])  # the class's motion
    (w, h), fps = spec.frame_size, spec.fps
    if v.random() < spec.odd_fraction:
        w, h = _ODD_SIZES[v.integers(len(_ODD_SIZES))]
        if v.random() < 0.5:
            fps = _ODD_FPS[v.integers(len(_ODD_FPS))]
    n = int(v.integers(spec.min_frames, spec.max_frames + 1))
    short = min(w, h)
    aw, ah = w / short, h / short                       # frame extent in short sides
    big, look = _group_scene(spec.seed, group, w, h, spec.clutter)
    y0, x0 = v.integers(0, big.shape[0] - h + 1), v.integers(0, big.shape[1] - w + 1)
    scene = np.clip(big[y0:y0 + h, x0:x0 + w] * v.uniform(0.85, 1.15), 0, 255).astype(np.uint8)  # this clip's exposure
    # the clip's placement: start position, phase, direction, base angle
    p = SimpleNamespace(x0=v.uniform(-0.3, 0.3) * aw, y0=v.uniform(-0.2, 0.2) * ah, phase=v.uniform(0, 2 * np.pi),
                        direction=v.choice([-1.0, 1.0]), angle=v.uniform(0, np.pi))
    xs, ys, angles, scales = CATALOG[cls](np.arange(n) / fps, r, p, aw, ah)  # times t in seconds
    video = np.repeat(scene[None], n, axis=0)
    for i in range(n):
        _draw(video[i], look, xs[i], ys[i], angles[i], scales[i], short)
    return video, fps


def write_avi(path, frames: np.ndarray, fps=25, codec="mpeg4") -> Path:
    """Write uint8 frames (N, H, W, 3), H and W even, as an .avi."""
    import av

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".avi") as tmp, av.open(str(tmp), "w", format="avi") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p" if codec == "mpeg4" else "yuvj420p"
        stream.thread_count, stream.bit_rate = 1, 1_000_000  # one thread: the bytes are the same on every run
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode())
    return Path(path)


def _write_one(root: str, spec: ActionSpec, cls: str, group: int, clip: int) -> None:
    write_avi(Path(root) / "UCF-101" / _file_name(cls, group, clip), *render_video(spec, cls, group, clip), spec.codec)


def _write_text(path: Path, lines: list[str]) -> None:
    # CRLF, as the official split files; newline="" stops Python translating "\n"
    write_text_atomic(path, "".join(line + "\r\n" for line in lines), newline="")


def make_actions(out_dir, spec: ActionSpec = ActionSpec(), workers=None, progress=True, overwrite=False) -> Path:
    """Write ``UCF-101/<Class>/*.avi``, ``ucfTrainTestlist/`` and ``actions.json`` under ``out_dir``."""
    # a folder already holding this spec is left as it is; workers: processes (default: cores, at most 8)
    out, wanted = Path(out_dir), spec.to_dict()
    if not overwrite and dataset_is_current(out, "actions.json", wanted):
        return out
    ensure_writable_dir(out)
    (out / "actions.json").unlink(missing_ok=True)

    classes = class_names(spec.classes)
    jobs = [(c, g, k) for c in classes for g in range(1, spec.groups + 1) for k in range(1, spec.clips_per_group + 1)]
    list(run_jobs(_write_one, [(str(out), spec, *job) for job in jobs], workers or min(os.cpu_count() or 1, 8),
                  "action videos", "video", progress, chunksize=8))

    lists = out / "ucfTrainTestlist"
    lists.mkdir(exist_ok=True)
    _write_text(lists / "classInd.txt", [f"{i} {c}" for i, c in enumerate(classes, 1)])
    for split in (1, 2, 3):
        tests = held_out_groups(split, spec.groups)
        _write_text(lists / f"trainlist{split:02d}.txt",
                    [f"{_file_name(c, g, k)} {classes.index(c) + 1}" for c, g, k in jobs if g not in tests])
        _write_text(lists / f"testlist{split:02d}.txt", [_file_name(c, g, k) for c, g, k in jobs if g in tests])
    write_manifest(out, "actions.json", wanted)
    return out
