"""vgan_lib.widgets.LatentExplorer, driven from Python (no browser): what each control does."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from vgan_lib.latent import sample_latents
from vgan_lib.model import VideoGANConfig, build_models
from vgan_lib.widgets import LatentExplorer

SIZE, FRAMES, SCALE, GAP = 16, 16, 3, 4


def lively(G):
    """The kit's init (weights N(0, 0.01)) makes near-constant grey videos; PyTorch's default
    init gives pictures that differ from latent to latent and frame to frame."""
    torch.manual_seed(0)
    for m in G.modules():
        if m is not G and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return G.eval()


def tiny(generator="two_stream"):
    G, _ = build_models(VideoGANConfig(frames=FRAMES, size=SIZE, width=4, generator=generator))
    return lively(G)


class Counter:
    """Counts G's forward calls and records whether autograd was on during them."""

    def __init__(self, G):
        self.calls, self.grad_enabled = 0, []
        G.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())


@pytest.fixture
def G():
    return tiny()


@pytest.fixture
def ex(G):
    return LatentExplorer(G, seed0=0, seed1=1, scale=SCALE, gap=GAP)


def png_size(data: bytes):
    return Image.open(io.BytesIO(data)).size  # (width, height)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --- the picture -----------------------------------------------------------------------------

def test_the_picture_is_a_png_enlarged_by_the_scale(ex):
    assert ex.image.format == "png"
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_size(ex.image.value) == (SIZE * SCALE, SIZE * SCALE)
    assert ex.last_error is None and ex.error.value == ""


def test_enlarging_uses_nearest_neighbour(ex):
    pic = decode(ex.image.value)
    blocks = pic.reshape(SIZE, SCALE, SIZE, SCALE, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every SCALE x SCALE block is one colour
    np.testing.assert_array_equal(pic, ex.picture())


def test_the_default_scale_makes_a_small_video_visible(G):
    explorer = LatentExplorer(G)
    assert png_size(explorer.image.value)[0] >= 160


def test_the_picture_shows_the_composite_video_of_z0_at_alpha_0(ex, G):
    from vgan_lib.model import generate
    from vgan_lib.video import to_uint8, upscale

    video = to_uint8(generate(G, sample_latents(1, G.cfg.z_dim, 0)).video[0])
    np.testing.assert_array_equal(decode(ex.image.value), upscale(video[0], SCALE))


# --- frame slider and Play -------------------------------------------------------------------

def test_moving_the_frame_changes_the_picture_without_running_G(ex, G):
    counter = Counter(G)
    before = ex.image.value
    ex.frame.value = 5
    assert ex.image.value != before
    ex.frame.value = 0
    assert ex.image.value == before
    assert counter.calls == 0 and ex.last_generated is False


def test_scrubbing_every_frame_reuses_the_cached_streams(ex, G):
    counter = Counter(G)
    pictures = set()
    for f in range(FRAMES):
        ex.frame.value = f
        pictures.add(ex.image.value)
    assert counter.calls == 0
    assert len(pictures) > FRAMES // 2


def test_play_drives_the_frame_slider_through_a_browser_side_link(ex):
    link = ex._link
    assert (link.source, link.target) == ((ex.play, "value"), (ex.frame, "value"))
    assert (ex.play.min, ex.play.max) == (0, FRAMES - 1)
    assert (ex.frame.min, ex.frame.max) == (0, FRAMES - 1)


# --- alpha, path method, seeds ---------------------------------------------------------------

def test_moving_alpha_runs_G_once_and_changes_the_picture(ex, G):
    counter = Counter(G)
    before = ex.image.value
    ex.alpha.value = 0.5
    assert counter.calls == 1 and ex.last_generated is True
    assert ex.image.value != before


def test_returning_to_an_alpha_seen_before_comes_from_the_cache(ex, G):
    start = ex.image.value
    ex.alpha.value = 0.5
    middle = ex.image.value
    counter = Counter(G)
    ex.alpha.value = 0.0
    assert ex.image.value == start
    ex.alpha.value = 0.5
    assert ex.image.value == middle
    assert counter.calls == 0


def test_alpha_1_shows_z1(G):
    a = LatentExplorer(G, seed0=0, seed1=1, scale=SCALE, alpha=1.0)
    b = LatentExplorer(G, seed0=1, seed1=5, scale=SCALE, alpha=0.0)
    assert a.image.value == b.image.value


def test_G_runs_in_eval_mode_without_gradients():
    G = tiny()
    G.train()
    counter = Counter(G)
    explorer = LatentExplorer(G, scale=SCALE)
    explorer.alpha.value = 0.25
    assert not G.training
    assert counter.grad_enabled == [False, False]


def test_linear_and_spherical_paths_differ_between_the_endpoints_only(ex):
    ex.alpha.value = 0.5
    spherical = ex.image.value
    ex.method.value = "linear"
    assert ex.image.value != spherical
    ex.alpha.value = 0.0
    linear_start = ex.image.value
    ex.method.value = "spherical"
    assert ex.image.value == linear_start


def test_the_current_latent_follows_the_path(ex):
    z0, z1 = sample_latents(1, 100, 0)[0], sample_latents(1, 100, 1)[0]
    ex.alpha.value = 0.5
    ex.method.value = "linear"
    torch.testing.assert_close(ex.current_z(), (z0 + z1) / 2)
    ex.method.value = "spherical"
    assert float(ex.current_z().norm()) == pytest.approx((float(z0.norm()) + float(z1.norm())) / 2, rel=1e-5)


def test_a_new_seed_changes_z0_and_the_picture(ex):
    before, seed = ex.image.value, ex.seed0.value
    ex.new0.click()
    assert ex.seed0.value != seed
    torch.testing.assert_close(ex.z0, sample_latents(1, 100, ex.seed0.value)[0])
    assert ex.image.value != before


def test_typing_a_seed_for_z1_matters_once_alpha_moves(ex):
    at_start = ex.image.value
    ex.seed1.value = 42
    assert ex.image.value == at_start  # alpha 0 still shows z0
    ex.alpha.value = 1.0
    assert ex.image.value == LatentExplorer(ex.G, seed0=42, seed1=0, scale=SCALE).image.value


# --- views -----------------------------------------------------------------------------------

def test_all_views_side_by_side_have_the_right_width(ex):
    ex.view.value = "all"
    panel = SIZE * SCALE
    assert png_size(ex.image.value) == (4 * panel + 3 * GAP, panel)
    pic = decode(ex.image.value)
    ex.view.value = "composite"
    np.testing.assert_array_equal(pic[:, :panel], decode(ex.image.value))
    assert (pic[:, panel:panel + GAP] == 255).all()


@pytest.mark.parametrize("view", ["foreground", "background", "mask"])
def test_each_stream_has_its_own_picture(ex, view):
    composite = ex.image.value
    ex.view.value = view
    assert ex.image.value != composite
    assert png_size(ex.image.value) == (SIZE * SCALE, SIZE * SCALE)


def test_the_mask_is_grey_and_the_background_does_not_move(ex):
    ex.view.value = "mask"
    mask = decode(ex.image.value)
    assert (mask[..., 0] == mask[..., 1]).all() and (mask[..., 1] == mask[..., 2]).all()
    ex.view.value = "background"
    first = ex.image.value
    ex.frame.value = 7
    assert ex.image.value == first


def test_changing_the_view_does_not_run_G(ex, G):
    counter = Counter(G)
    for view in ("foreground", "background", "mask", "all", "composite"):
        ex.view.value = view
    assert counter.calls == 0


def test_a_one_stream_generator_offers_the_composite_view_only():
    explorer = LatentExplorer(tiny("one_stream"), scale=SCALE)
    assert list(explorer.view.options) == ["composite"] and explorer.view.disabled
    explorer.alpha.value = 0.5
    assert explorer.last_error is None
    assert png_size(explorer.image.value) == (SIZE * SCALE, SIZE * SCALE)


# --- principal directions --------------------------------------------------------------------

def test_principal_direction_sliders_move_the_latent(G):
    explorer = LatentExplorer(G, scale=SCALE, directions=2)
    assert [s.description for s in explorer.direction_sliders] == ["PC1", "PC2"]
    before, z = explorer.image.value, explorer.current_z()
    explorer.direction_sliders[0].value = 2.0
    torch.testing.assert_close(explorer.current_z(), z + 2.0 * explorer.directions.vectors[0])
    assert explorer.image.value != before


def test_without_directions_there_are_no_direction_sliders(ex):
    assert ex.direction_sliders == [] and ex.directions is None


# --- errors, timing, display -----------------------------------------------------------------

class Flaky(torch.nn.Module):
    """A generator that fails while ``broken`` is set."""

    def __init__(self, G):
        super().__init__()
        self.G, self.cfg, self.broken = G, G.cfg, True

    def forward(self, z, return_streams=False):
        if self.broken:
            raise RuntimeError("the generator is broken")
        return self.G(z, return_streams=return_streams)


def test_a_failing_generator_shows_its_error_in_the_widget_instead_of_raising(G):
    flaky = Flaky(G)
    explorer = LatentExplorer(flaky, scale=SCALE)  # must not raise
    assert isinstance(explorer.last_error, RuntimeError)
    assert "the generator is broken" in explorer.error.value
    explorer.alpha.value = 0.3  # still no exception from an observer
    assert "the generator is broken" in explorer.error.value
    flaky.broken = False
    explorer.alpha.value = 0.4
    assert explorer.last_error is None and explorer.error.value == ""
    assert png_size(explorer.image.value) == (SIZE * SCALE, SIZE * SCALE)


def test_error_text_is_escaped(G):
    flaky = Flaky(G)
    flaky.forward = lambda z, return_streams=False: (_ for _ in ()).throw(ValueError("<b>bold</b>"))
    explorer = LatentExplorer(flaky, scale=SCALE)
    assert "<b>" not in explorer.error.value and "&lt;b&gt;" in explorer.error.value


def test_update_seconds_measures_each_update(ex):
    ex.frame.value = 3
    assert 0 < ex.update_seconds < 60
    ex.alpha.value = 0.7
    assert 0 < ex.update_seconds < 60
    assert "ms" in ex.info.value


def test_the_thread_setting_is_restored_after_G_runs(G):
    before = torch.get_num_threads()
    explorer = LatentExplorer(G, scale=SCALE, threads=1)
    explorer.alpha.value = 0.5
    assert torch.get_num_threads() == before


def test_the_explorer_displays_as_its_widget(ex):
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert ex.image in ex.widget.children and ex.error in ex.widget.children


def test_controls_carry_css_classes_for_the_browser_test(ex):
    assert "vgan-alpha" in ex.alpha._dom_classes
    assert "vgan-frame" in ex.frame._dom_classes
    assert "vgan-picture" in ex.image._dom_classes


def test_close_closes_the_widgets(ex):
    ex.close()
    assert ex.image.comm is None and ex.widget.comm is None
