"""vgan_lib.viz: the plotting helpers return figures of the right shape; the layer table reads real modules."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vgan_lib import viz  # noqa: E402
from vgan_lib.model import Streams, build_models, count_parameters, get_config  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _streams(B=2, T=4, H=8, W=8, two_stream=True):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(B, 3, T, H, W, generator=g) * 2 - 1
    if not two_stream:
        return Streams(video, video, None, None)
    return Streams(video, video.clone(), torch.rand(B, 3, H, W, generator=g) * 2 - 1,
                   torch.rand(B, 1, T, H, W, generator=g))


def test_frame_strip_draws_every_nth_frame():
    frames = np.zeros((8, 6, 5, 3), dtype=np.uint8)
    ax = viz.frame_strip(frames, every=2, title="clip")
    image = ax.get_images()[0].get_array()
    # 4 frames of width 5, one pixel of padding around each
    assert image.shape[:2] == (6 + 2, 4 * (5 + 1) + 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t=0", "t=2", "t=4", "t=6"]


def test_frame_strip_rejects_a_batch():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        viz.frame_strip(np.zeros((2, 8, 6, 5, 3), dtype=np.uint8))


def test_plot_frame_grid_has_one_row_per_clip_and_one_column_per_frame():
    videos = np.zeros((3, 16, 8, 8, 3), dtype=np.uint8)
    fig = viz.plot_frame_grid(videos, row_labels=["a", "b", "c"], frames=[0, 5, 10, 15])
    assert len(fig.axes) == 12
    assert fig.axes[0].get_title() == "t=0"


def test_stream_panel_rows():
    fig = viz.stream_panel(_streams(), index=1, every=1, title="x")
    assert len(fig.axes) == 4  # composite, foreground, mask, background
    assert len(fig.axes[-1].get_xticklabels()) == 4
    fig_one = viz.stream_panel(_streams(two_stream=False), frames=2)
    assert len(fig_one.axes) == 1


def test_plot_losses():
    history = [{"step": i + 1, "loss_d": 0.7, "loss_g": 0.8, "d_real": 0.6, "d_fake": 0.4} for i in range(20)]
    fig = viz.plot_losses(history, smooth=5)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 16  # running mean over 5 of 20 steps
    with pytest.raises(ValueError):
        viz.plot_losses([])


def test_layer_table_reads_the_real_modules():
    cfg = get_config("small")
    G, D = build_models(cfg)
    G.train()
    rows = viz.layer_table(G, torch.randn(2, cfg.z_dim))
    assert G.training  # mode restored
    assert sum(r["params"] for r in rows) == count_parameters(G)
    by_name = {r["name"]: r for r in rows}
    assert by_name["video_head.1"]["shape"] == (3, cfg.frames, cfg.size, cfg.size)
    assert by_name["mask_head.1"]["shape"] == (1, cfg.frames, cfg.size, cfg.size)
    assert by_name["background.13"]["shape"] == (3, cfg.size, cfg.size)
    assert by_name["foreground.0"]["layer"] == "ConvT3d 100→256 k1x2x2 s1 p0"
    assert not G.foreground[0]._forward_hooks  # hooks removed

    d_rows = viz.layer_table(D, torch.zeros(1, *cfg.video_shape))
    assert d_rows[-1]["shape"] == (1, 1, 1, 1)
    text = viz.format_layer_table({"a": d_rows, "b": d_rows})
    assert f"{count_parameters(D):,}" in text.splitlines()[-1]
    with pytest.raises(ValueError, match="same layers"):
        viz.format_layer_table({"G": rows, "D": d_rows})
