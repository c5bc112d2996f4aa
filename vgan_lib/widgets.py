"""Interactive widgets (ipywidgets 8) for looking inside a trained generator: ``LatentExplorer``."""
# G runs only when the latent changes: the streams of the last ``cache_size`` latents and the PNG of
# every frame shown are cached (``update_seconds``: the last update's time; benchmarks/widget_update.py).

from __future__ import annotations

import html
import io
import random
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .latent import METHODS, angle, interpolate, principal_directions, sample_latents
from .model import generate
from .video import to_uint8, upscale

__all__ = ["LatentExplorer", "png_bytes", "VIEWS"]

VIEWS = ("composite", "foreground", "background", "mask", "all")
PANELS = ("composite", "foreground", "background", "mask")


def png_bytes(frame: np.ndarray) -> bytes:
    """A uint8 (H, W, 3) picture as PNG bytes (fast, lossless)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(frame)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _cached(cache: OrderedDict, key, make, size: int) -> tuple:
    # (value, whether make() ran): key's value in an LRU cache of ``size`` items, made and kept when missing
    if key in cache:
        cache.move_to_end(key)
        return cache[key], False
    cache[key] = value = make()
    while len(cache) > size:
        cache.popitem(last=False)
    return value, True


def _label(text: str):
    import ipywidgets as W

    return W.Label(text, layout=W.Layout(width="82px", justify_content="flex-end", padding="0 8px 0 0"))


class LatentExplorer:
    """Interpolate between the latents z0, z1 of two seeds (straight or along the great circle: ``method``) and
    watch G's video at ``alpha`` frame by frame: composite, foreground, background, mask or all.

    G runs in eval mode without gradients on at most ``threads`` CPU threads (None: unchanged); ``scale`` enlarges the
    pictures (default: to about 192 px), ``directions`` adds that many principal-direction sliders, ``gap`` is the white
    space between the panels of view "all". Setting a control's ``value`` (``alpha``, ``frame``, ``play``, ``view``,
    ``method``, ``seed0``, ``seed1``, ``direction_sliders``) updates the picture; errors stay in ``last_error``."""
    # errors also show in red; display the explorer or ``explorer.widget``

    def __init__(self, G: nn.Module, seed0: int = 0, seed1: int = 1, method: str = "spherical", alpha: float = 0.0,
                 scale: int | None = None, fps: float = 8, directions: int = 0, gap: int = 4, cache_size: int = 64,
                 threads: int | None = 1):
        import ipywidgets as W

        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.G, cfg = G.eval(), G.cfg
        self.z_dim, self.frames, self.size = cfg.z_dim, cfg.frames, cfg.size
        self.scale, self.gap = int(scale) if scale else max(1, 192 // self.size), int(gap)
        self.two_stream = cfg.generator == "two_stream"
        self.panels = PANELS if self.two_stream else ("composite",)
        self.cache_size, self.threads, self.generator_calls = cache_size, threads, 0
        self.update_seconds, self.last_generated = float("nan"), False  # the last update's wall time; whether G ran
        self.last_error: BaseException | None = None
        # LRU caches: the streams of a latent, and (PNG, picture) of a latent, view and frame; seed -> latent
        self._streams_cache, self._png_cache, self._z_cache = OrderedDict(), OrderedDict(), {}
        self._rng = random.Random(seed0 * 1_000_003 + seed1)
        self._picture: np.ndarray | None = None  # the picture shown

        # --- the controls -------------------------------------------------------------
        self.seed0, self.seed1 = (W.IntText(value=s, description=f"z{i} seed", layout=W.Layout(width="170px"))
                                  for i, s in (("₀", seed0), ("₁", seed1)))
        self.new0, self.new1 = (W.Button(description=f"new z{i}", icon="random", layout=W.Layout(width="90px"))
                                for i in "₀₁")
        self.method = W.ToggleButtons(options=list(METHODS), value=method, tooltips=[
            "straight line from z0 to z1", "great circle from z0 to z1"], style={"button_width": "80px"})
        self.alpha = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.01, description="α", readout_format=".2f",
                                   continuous_update=True, layout=W.Layout(width="480px"))
        self.frame = W.IntSlider(value=0, min=0, max=self.frames - 1, step=1, description="frame",
                                 continuous_update=True, layout=W.Layout(width="380px"))
        self.play = W.Play(value=0, min=0, max=self.frames - 1, step=1, interval=max(10, int(1000 / fps)),
                           description="play", repeat=True)
        self._link = W.jslink((self.play, "value"), (self.frame, "value"))
        views = VIEWS if self.two_stream else ("composite",)
        self.view = W.ToggleButtons(options=list(views), value="composite", disabled=len(views) == 1,
                                    style={"button_width": "104px"})
        self.directions = principal_directions(G, directions) if directions else None
        shares = self.directions.explained.tolist() if self.directions is not None else []
        self.direction_sliders = [W.FloatSlider(
            value=0.0, min=-3.0, max=3.0, step=0.1, readout_format="+.1f", continuous_update=True,
            description=f"PC{i + 1}", tooltip=f"{100 * share:.1f}% of the first layer's variance",
            layout=W.Layout(width="320px")) for i, share in enumerate(shares)]
        self.caption, self.info, self.error = W.HTML(), W.HTML(), W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(border="1px solid #ddd"))
        for w, name in zip((self.alpha, self.frame, self.play, self.view, self.image, self.error, self.info),
                           ("alpha", "frame", "play", "view", "picture", "error", "info")):
            w.add_class(f"vgan-{name}")  # CSS classes for the browser tests

        sliders = [W.HBox(self.direction_sliders, layout=W.Layout(flex_flow="row wrap"))] if shares else []
        rows = [W.HBox([self.seed0, self.new0, self.seed1, self.new1]), W.HBox([_label("path"), self.method]),
                self.alpha, W.HBox([self.play, self.frame]), W.HBox([_label("view"), self.view])]
        self.widget = W.VBox([*rows, *sliders, self.caption, self.image, self.info, self.error])

        # --- wiring: latent changes run G (or hit the cache), the rest only re-render ----
        for w in (self.seed0, self.seed1, self.method, self.alpha, *self.direction_sliders, self.frame, self.view):
            w.observe(lambda _: self.refresh(), names="value")
        for button, seed in ((self.new0, self.seed0), (self.new1, self.seed1)):  # a random new seed
            button.on_click(lambda _, seed=seed: setattr(seed, "value", self._rng.randrange(10_000)))
        self.refresh()

    # --- the maths behind the picture -----------------------------------------------------
    def latent(self, seed: int) -> torch.Tensor:
        """The latent (z_dim,) that a seed stands for (``latent.sample_latents``)."""
        if seed not in self._z_cache:
            self._z_cache[seed] = sample_latents(1, self.z_dim, seed)[0]
        return self._z_cache[seed]

    # the two ends of the path: the latents of the two seeds shown
    z0 = property(lambda self: self.latent(self.seed0.value))
    z1 = property(lambda self: self.latent(self.seed1.value))

    def current_z(self) -> torch.Tensor:
        """The latent shown now: the path at alpha plus the principal-direction offsets."""
        z = interpolate(self.z0, self.z1, float(self.alpha.value), self.method.value)
        if self.directions is not None:
            z = z + torch.tensor([s.value for s in self.direction_sliders], dtype=z.dtype) @ self.directions.vectors
        return z

    def _latent_key(self) -> tuple:
        return (self.seed0.value, self.seed1.value, self.method.value, round(float(self.alpha.value), 6),
                tuple(round(float(s.value), 6) for s in self.direction_sliders))

    def streams(self) -> tuple[dict[str, np.ndarray], bool]:
        """uint8 (T, H, W, 3) arrays per panel for the current latent, and whether G ran."""
        return _cached(self._streams_cache, self._latent_key(), self._generate, self.cache_size)

    def _generate(self) -> dict[str, np.ndarray]:
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads or before)
        try:
            s = generate(self.G, self.current_z()[None], batch_size=1)
        finally:
            torch.set_num_threads(before)
        self.generator_calls += 1
        arrays = {"composite": to_uint8(s.video[0]), "foreground": to_uint8(s.foreground[0])}
        if s.background is not None:
            arrays["background"] = to_uint8(s.background[0].unsqueeze(1))  # (1, H, W, 3): still
            arrays["mask"] = to_uint8(s.mask[0])
        return arrays

    def render(self, arrays: dict[str, np.ndarray], frame: int, view: str) -> np.ndarray:
        """The picture for one frame: (H*scale, W*scale, 3), or the panels side by side."""
        pics = [upscale(arrays[n][min(frame, len(arrays[n]) - 1)], self.scale)
                for n in (self.panels if view == "all" else (view,))]
        spacer = np.full((pics[0].shape[0], self.gap, 3), 255, dtype=np.uint8)
        return np.concatenate([x for p in pics for x in (spacer, p)][1:], axis=1)

    def picture(self) -> np.ndarray | None:
        """The uint8 picture (H', W', 3) shown now."""
        return self._picture

    # --- updating ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the picture up to date with the controls; errors go to the widget."""
        t0 = time.perf_counter()
        try:
            arrays, generated = self.streams()
            frame, view = int(self.frame.value), self.view.value
            # the picture and its PNG, rendered only when not cached
            def picture_and_png():
                picture = self.render(arrays, frame, view)
                return png_bytes(picture), picture

            key = (self._latent_key(), view, frame)
            (data, self._picture), _ = _cached(self._png_cache, key, picture_and_png, 1024)
            self.image.value = data  # a widget sends a value only when it changes
            self.image.width, self.image.height = self._picture.shape[1], self._picture.shape[0]
            self._set_caption(view)
            self.last_generated, self.last_error = generated, None
            self.update_seconds = time.perf_counter() - t0
            self._set_info()
            self.error.value = ""
        except Exception as e:  # shown in the widget, not raised into the kernel log
            self.last_error = e
            self.update_seconds = time.perf_counter() - t0
            self.error.value = ('<pre style="color:#b00020;white-space:pre-wrap;margin:0">'
                                f"error: {html.escape(type(e).__name__)}: {html.escape(str(e))}</pre>")

    def _set_caption(self, view: str) -> None:
        cells = "".join(f'<div style="width:{self.size * self.scale}px;margin-right:{self.gap}px;text-align:center;'
                        f'font-size:12px">{n}</div>' for n in (self.panels if view == "all" else (view,)))
        self.caption.value = f'<div style="display:flex">{cells}</div>'

    def _set_info(self) -> None:
        ran = "G ran" if self.last_generated else "cached"
        self.info.value = (f'<span style="font-size:12px;color:#555">‖z‖ = {float(self.current_z().norm()):.2f} · '
                           f"angle(z₀, z₁) = {angle(self.z0, self.z1):.1f}° · "
                           f"update {1000 * self.update_seconds:.0f} ms ({ran})</span>")

    # --- display ----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close every widget of the explorer (the picture disappears from the page)."""
        def close(w):
            for child in getattr(w, "children", ()):
                close(child)
            w.close()

        self._link.close()
        close(self.widget)
