"""Camera motion out of a clip as the original's stabiliser took it out (SIFT, Lowe's ratio test, RANSAC homographies
chained to the clip's first frame), shot cuts, the camera motion a clip still has, and footage with a known camera."""
# Frames are uint8 (H, W, 3) RGB numpy arrays throughout, as the decoder gives them.

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["RATIO", "MIN_MATCHES", "RANSAC_PX", "CUT_DISTANCE", "good_matches", "Stabiliser", "colour_histogram",
           "histogram_distance", "to_square", "frame_shifts", "residual_motion", "Footage", "camera_footage"]

RATIO = 0.7           # Lowe's ratio test: nearest descriptor closer than 0.7 x the second nearest
MIN_MATCHES = 10      # fewer good matches between two frames and the clip fails
RANSAC_PX = 5.0       # RANSAC reprojection threshold (pixels)
CUT_DISTANCE = 0.4    # colour-histogram distance (0 same, 1 disjoint) above which a new shot starts
LEFT_FRAME = "warp left the frame"


def good_matches(desc_a: np.ndarray | None, desc_b: np.ndarray | None, ratio: float = RATIO) -> np.ndarray:
    """Lowe's ratio test on SIFT descriptors (Na, 128) and (Nb, 128): int (M, 2) pairs (i, j) where b[j] is a[i]'s
    nearest neighbour and closer than ``ratio`` times the second nearest."""
    # an exact matcher (the original's FLANN k-d tree is approximate): the same pairs on every run and in any worker
    if desc_a is None or desc_b is None or len(desc_a) == 0 or len(desc_b) < 2:
        return np.zeros((0, 2), np.int64)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_a, desc_b, k=2)
    return np.array([(m.queryIdx, m.trainIdx) for m, n in pairs if m.distance < ratio * n.distance],
                    np.int64).reshape(-1, 2)


class Stabiliser:
    """Warps each next frame of a clip into the coordinates of its first frame ``first`` (H, W, 3)."""

    def __init__(self, first: np.ndarray):
        self.sift, self.total, self.last = cv2.SIFT_create(), np.eye(3), first
        self.previous = self.features(first)
        self.ones = np.full(first.shape[:2], 255, np.uint8)

    def features(self, frame: np.ndarray):
        return self.sift.detectAndCompute(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None)

    def add(self, frame: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """(stabilised frame (H, W, 3), None), or (None, why the clip fails or stops here)."""
        (kp, desc), (kp_prev, desc_prev) = self.features(frame), self.previous
        self.previous = kp, desc
        pairs = good_matches(desc, desc_prev)
        if len(pairs) < MIN_MATCHES:
            return None, "too few matches"
        src = np.float32([kp[i].pt for i in pairs[:, 0]])
        dst = np.float32([kp_prev[j].pt for j in pairs[:, 1]])
        h, _ = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)  # this frame -> the previous one
        if h is None:
            return None, "no homography"
        self.total = self.total @ h                                 # this frame -> the first one
        size = frame.shape[1::-1]
        valid = cv2.erode(cv2.warpPerspective(self.ones, self.total, size), np.ones((5, 5), np.uint8)) > 0
        if not valid.any():
            return None, LEFT_FRAME
        out = self.last.copy()  # where the warp leaves no pixel, the last stabilised frame shows through
        out[valid] = cv2.warpPerspective(frame, self.total, size)[valid]
        self.last = out
        return out, None


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    """(512,) float64: the frame's RGB histogram, 8 bins a channel, summing to 1 (every 4th pixel is enough)."""
    h = cv2.calcHist([np.ascontiguousarray(frame[::4, ::4])], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
    return h.astype(np.float64) / max(h.sum(), 1)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two colour histograms: 0 for the same colours, 1 for none in common."""
    return 0.5 * float(np.abs(a - b).sum())


def to_square(frame: np.ndarray, size: int) -> np.ndarray:
    """(size, size, ...) from (H, W, ...): short side resized to ``size`` (area filter), then the centre crop."""
    h, w = frame.shape[:2]
    nw, nh = max(size, round(w * size / min(h, w))), max(size, round(h * size / min(h, w)))
    small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA) if (nw, nh) != (w, h) else frame
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return small[y0:y0 + size, x0:x0 + size]


def frame_shifts(clip: np.ndarray, tiles: int = 4) -> np.ndarray:
    """(T - 1, 2) float: the camera's shift (dx, dy) in pixels from each frame of ``clip`` (T, H, W, 3) to the next:
    the median over a ``tiles`` x ``tiles`` grid of the tiles' shifts by phase correlation of the grey frames. A
    moving object moves the tiles it covers; while it covers fewer than half, the median is the background's."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in clip]
    th, tw = grey[0].shape[0] // tiles, grey[0].shape[1] // tiles
    window = cv2.createHanningWindow((tw, th), cv2.CV_64F)
    cells = [(slice(i * th, (i + 1) * th), slice(j * tw, (j + 1) * tw)) for i in range(tiles) for j in range(tiles)]
    return np.array([np.median([cv2.phaseCorrelate(a[c], b[c], window)[0] for c in cells], axis=0)
                     for a, b in zip(grey, grey[1:])]).reshape(-1, 2)


def residual_motion(clips) -> float:
    """Mean length of the frame-to-frame shift (``frame_shifts``) over clips (T, H, W, 3), in pixels per frame."""
    return float(np.mean(np.concatenate([np.hypot(*frame_shifts(c).T) for c in clips])))


@dataclass
class Footage:
    video: np.ndarray   # uint8 (N, H, W, 3)
    poses: np.ndarray   # (N, 3, 3): the scene's coordinates -> each frame's pixels
    masks: np.ndarray   # bool (N, H, W): where the moving objects are in each frame
    cuts: list          # the first frame of each shot after the first


def camera_footage(shots=(30, 34), width=256, height=192, pan=3.0, shake=1.5, turn=2.0, grit=0.2,
                   seed=0) -> Footage:
    """Footage of ``vgan_lib.synthetic``'s scenes (moving objects over still ground), one scene a shot, filmed by a
    camera that pans ``pan`` pixels a frame, shakes by N(0, ``shake``) pixels and turns up to ``turn`` degrees. The
    scenes get a still grain of contrast ``grit``: the detail SIFT finds in real footage (the objects stay flat)."""
    from .synthetic import _background, render_clip

    rng = np.random.default_rng([seed, 9])
    side = 8 * round((max(width, height) + pan * max(shots) + 10 * shake + 0.05 * turn * width) / 8 + 2)
    q = side // 4
    video, poses, masks = [], [], []
    for k, n in enumerate(shots):
        # the objects of a scene rendered at half the side, in the middle of the full-size scene the camera sees:
        # as large in the view as in the kit's synthetic clips
        small = render_clip(k, n, 2 * q, seed, max_objects=2)
        still = (_background(np.random.default_rng([seed, k]), 2 * q)[0] * 255 + 0.5).astype(np.int16)
        objects = np.abs(small.astype(np.int16) - still).max(-1) > 12
        grain = cv2.GaussianBlur(rng.uniform(-grit, grit, (side, side)), (0, 0), 0.8)
        scene = np.clip(_background(np.random.default_rng([seed, k]), side)[0] + grain[..., None], 0, 1)
        world = np.repeat((scene * 255 + 0.5).astype(np.uint8)[None], n, axis=0)
        world[:, q:3 * q, q:3 * q][objects] = small[objects]
        moving = np.zeros((n, side, side), bool)
        moving[:, q:3 * q, q:3 * q] = objects
        direction = rng.choice([-1.0, 1.0])
        for t in range(n):
            cx, cy = side / 2 + direction * pan * (t - n / 2) + rng.normal(0, shake), side / 2 + rng.normal(0, shake)
            a = np.deg2rad(turn) * np.sin(2 * np.pi * t / 24 + k)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            pose = np.eye(3)
            pose[:2, :2], pose[:2, 2] = rot, np.array([width / 2, height / 2]) - rot @ [cx, cy]
            poses.append(pose)
            video.append(cv2.warpAffine(world[t], pose[:2], (width, height), flags=cv2.INTER_LINEAR))
            masks.append(cv2.warpAffine(moving[t].astype(np.uint8), pose[:2], (width, height)) > 0)
    return Footage(np.stack(video), np.stack(poses), np.stack(masks), [int(c) for c in np.cumsum(shots)[:-1]])
