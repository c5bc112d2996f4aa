"""The loss terms the original lacks: each right on hand-made tensors, and computed only when a run asks."""

import pytest
import torch

from vgan_lib import extras
from vgan_lib.model import Streams, build_models
from vgan_lib.train import GANTrainer, TrainConfig


def streams(foreground=None, mask=None):
    f = foreground if foreground is not None else torch.zeros_like(mask).expand(-1, 3, -1, -1, -1)
    return Streams(video=f, foreground=f, background=None, mask=mask)


def test_blend_is_zero_on_a_decided_mask_and_largest_at_one_half():
    decided = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 4, 1, 1)
    assert extras.blend_penalty(streams(mask=decided)).item() == 0
    assert extras.blend_penalty(streams(mask=torch.full((1, 1, 4, 1, 1), 0.5))).item() == pytest.approx(0.25)
    assert extras.blend_penalty(Streams(torch.zeros(1), torch.zeros(1), None, None)).item() == 0
    # unlike the L1 penalty it pushes a mostly open pixel further open
    m = torch.tensor([0.2, 0.8]).view(1, 1, 2, 1, 1).requires_grad_()
    extras.blend_penalty(streams(mask=m)).backward()
    assert m.grad.flatten()[0] > 0 > m.grad.flatten()[1]


def test_flicker_counts_the_foreground_change_only_where_the_mask_shows_it():
    f = torch.zeros(1, 3, 3, 2, 2)
    f[:, :, 1] = 1.0                                # every pixel jumps by 1/2 in [0, 1] units, then back
    shut, open_ = torch.zeros(1, 1, 3, 2, 2), torch.ones(1, 1, 3, 2, 2)
    assert extras.flicker_penalty(streams(f, shut)).item() == 0
    assert extras.flicker_penalty(streams(f, open_)).item() == pytest.approx(0.5)
    half = open_.clone()
    half[..., 0] = 0                                # the left column is shut
    assert extras.flicker_penalty(streams(f, half)).item() == pytest.approx(0.25)
    # a foreground that stays needs no change, wherever the mask goes
    still = torch.rand(1, 3, 1, 2, 2).expand(1, 3, 3, 2, 2)
    assert extras.flicker_penalty(streams(still, torch.rand(1, 1, 3, 2, 2))).item() == 0


def _trainer(cfg, **extra_weights):
    G, D = build_models(cfg, seed=0)
    cfg = TrainConfig(batch_size=4, device="cpu", precision="fp32", channels_last=False, extras=extra_weights)
    return GANTrainer(G, D, cfg)


def test_an_extra_term_joins_the_generator_loss_only_when_named(tiny_cfg, monkeypatch):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = _trainer(tiny_cfg).step(batch)
    weighted = _trainer(tiny_cfg, blend=3.0, flicker=5.0).step(batch)
    assert "blend" not in plain and "flicker" not in plain
    assert weighted["loss_g"] == pytest.approx(plain["loss_g"] + 3.0 * weighted["blend"] + 5.0 * weighted["flicker"],
                                               rel=1e-5)
    # the default step computes none of them
    monkeypatch.setitem(extras.TERMS, "blend", lambda s: pytest.fail("computed at no weight"))
    _trainer(tiny_cfg).step(batch)


def test_unknown_terms_and_bad_weights_are_one_line():
    with pytest.raises(ValueError, match="unknown extra term 'r1'; the kit has blend, flicker"):
        TrainConfig(extras={"r1": 1.0})
    with pytest.raises(ValueError, match="'flicker' needs a weight >= 0, got -1"):
        TrainConfig(extras={"flicker": -1})
    assert extras.parse(["flicker=300", "blend=50"]) == {"flicker": 300.0, "blend": 50.0}
    with pytest.raises(ValueError, match="write NAME=WEIGHT"):
        extras.parse(["flicker"])
