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


# ---------------------------------------------------------------------------- DiffAugment

def clips(b=4, t=3, size=16, seed=0):
    return torch.rand(b, 3, t, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_shifts_every_frame_of_a_clip_alike_and_fills_with_zero():
    x = clips()
    y = extras.translation(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape
    for b in range(x.shape[0]):  # find the clip's shift: the one under which the two agree
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(y[b, :, :, max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)],
                                x[b, :, :, max(0, dy):16 + min(0, dy), max(0, dx):16 + min(0, dx)])]
        assert len(found) == 1
        dy, dx = found[0]
        uncovered = torch.ones(16, 16, dtype=torch.bool)
        uncovered[max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)] = False
        assert (y[b][:, :, uncovered] == 0).all()


def test_cutout_zeroes_one_half_side_square_per_clip_in_every_frame():
    x = clips() + 3  # no zeros of its own
    y = extras.cutout(x, torch.Generator().manual_seed(1))
    zero = y == 0
    assert (zero.all(dim=(1, 2)) == zero.any(dim=(1, 2))).all()   # the same pixels in every channel and frame
    assert (zero[:, 0, 0].flatten(1).sum(dim=1) == 64).all()          # an 8 x 8 square of 16 x 16
    assert torch.equal(y[~zero], x[~zero])


def test_colour_changes_each_clip_by_its_own_draw_but_every_frame_alike():
    x = clips(t=1).expand(-1, -1, 3, -1, -1)      # three equal frames
    y = extras.colour(x, torch.Generator().manual_seed(0))
    assert torch.equal(y[:, :, 0], y[:, :, 2]) and not torch.allclose(y, x)


def test_gradients_reach_the_generator_through_every_augmentation():
    x = clips().requires_grad_()
    extras.augment(x, "colour,translation,cutout", torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_d_sees_augmented_clips_only_when_a_run_asks(tiny_cfg, monkeypatch):
    seen = []
    real_augment = extras.augment
    monkeypatch.setattr(extras, "augment", lambda x, policy, gen: seen.append(policy) or real_augment(x, policy, gen))
    reals = torch.rand(2, 3, tiny_cfg.frames, tiny_cfg.size, tiny_cfg.size) * 2 - 1
    for policy in ("", "translation,cutout"):
        G, D = build_models(tiny_cfg, seed=0)
        GANTrainer(G, D, TrainConfig(batch_size=2, precision="fp32", channels_last=False, augment=policy)).step(reals)
    assert seen == ["translation,cutout", "translation,cutout"]  # the real batch and the fake one


def test_an_unknown_augmentation_is_one_line():
    with pytest.raises(ValueError, match="unknown augmentation 'flip'; the kit has colour, translation, cutout"):
        TrainConfig(augment="translation,flip")
