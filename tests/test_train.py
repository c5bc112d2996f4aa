"""The GAN objective and one step of Algorithm 1."""

import math

import pytest
import torch

from vgan_lib.model import build_models
from vgan_lib.train import (GANTrainer, ShuffleStream, TrainConfig, blend_penalty, d_loss, g_loss, mask_penalty,
                            motion_seeking_penalty, r1_penalty, flicker_penalty)


def test_discriminator_loss_is_the_halved_cross_entropy():
    # at logits 0 D says 1/2 for everything: 0.5 * (log 2 + log 2)
    assert d_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(math.log(2))
    # real logit 2, fake logit -1: 0.5 * (log(1 + e^-2) + log(1 + e^-1))
    expected = 0.5 * (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))
    assert d_loss(torch.tensor([2.0]), torch.tensor([-1.0])).item() == pytest.approx(expected)


def test_generator_losses_on_a_hand_computed_logit():
    logit = torch.tensor([-1.0])  # D(G(z)) = sigmoid(-1) = 0.269
    assert g_loss(logit, "non_saturating").item() == pytest.approx(-math.log(1 / (1 + math.e)))
    assert g_loss(logit, "saturating").item() == pytest.approx(math.log(1 - 1 / (1 + math.e)))
    with pytest.raises(ValueError, match="wasserstein"):
        g_loss(logit, "wasserstein")


def test_saturating_loss_gives_almost_no_gradient_when_d_rejects_the_fake():
    grads = {}
    for kind in ("saturating", "non_saturating"):
        logit = torch.tensor([-6.0], requires_grad=True)  # D(G(z)) ~ 0.0025
        g_loss(logit, kind).backward()
        grads[kind] = logit.grad.abs().item()
    assert grads["saturating"] < 0.01 < 0.99 < grads["non_saturating"]


def test_mask_penalty_is_the_mean_absolute_mask_and_zero_without_a_mask():
    m = torch.tensor([0.0, 0.5, 1.0, 0.5]).view(1, 1, 4, 1, 1)
    assert mask_penalty(m).item() == pytest.approx(0.5)
    assert mask_penalty(None).item() == 0


def test_blend_penalty_is_zero_on_a_decided_mask_and_largest_at_one_half():
    decided = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 4, 1, 1)
    assert blend_penalty(decided).item() == 0
    assert blend_penalty(torch.full((1, 1, 4, 1, 1), 0.5)).item() == pytest.approx(0.25)
    assert blend_penalty(None).item() == 0
    # unlike the L1 penalty it pushes a mostly open pixel further open
    m = torch.tensor([0.2, 0.8], requires_grad=True)
    blend_penalty(m).backward()
    assert m.grad[0] > 0 > m.grad[1]


def test_the_blend_penalty_joins_the_generator_loss_only_when_weighted(tiny_cfg):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = _trainer(tiny_cfg).step(batch)
    weighted = _trainer(tiny_cfg, mask_binary=3.0).step(batch)
    assert plain["loss_g"] == pytest.approx(plain["loss_adv"] + 0.1 * plain["mask_l1"])
    assert weighted["mask_blend"] == pytest.approx(plain["mask_blend"])   # the same first fakes
    assert weighted["loss_g"] == pytest.approx(plain["loss_g"] + 3.0 * plain["mask_blend"])
    with pytest.raises(ValueError, match="mask_binary"):
        TrainConfig(mask_binary=-1)


def test_motion_seeking_is_large_when_distinct_z_give_the_same_motion():
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    still = -torch.ones(4, 3, 4, 2, 2)             # black
    same = still.clone()
    same[:, :, 2:] = 1.0                           # every video turns white at frame 2
    own = still.clone()
    own[:2, :, 1:] = 1.0                           # the first half at frame 1, the second at frame 3
    own[2:, :, 3:] = 1.0
    z_gap = (z[:2] - z[2:]).abs().mean().item()
    assert motion_seeking_penalty(same, z).item() == pytest.approx(z_gap / 1e-5)
    assert motion_seeking_penalty(still, z).item() == pytest.approx(z_gap / 1e-5)
    # their change maps differ in 2 of the 3 frame pairs, by 1 in [0, 1] units
    assert motion_seeking_penalty(own, z).item() == pytest.approx(z_gap / (2 / 3 + 1e-5))


def test_the_motion_seeking_term_joins_the_generator_loss_when_weighted(tiny_cfg):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = _trainer(tiny_cfg).step(batch)
    trainer = _trainer(tiny_cfg, motion_seeking=0.5)
    with torch.no_grad():
        z = torch.randn(4, tiny_cfg.z_dim, generator=torch.Generator().manual_seed(0))
        term = motion_seeking_penalty(trainer.G(z), z).item()   # the trainer's first latents
    weighted = trainer.step(batch)
    assert weighted["loss_g"] == pytest.approx(plain["loss_g"] + 0.5 * term, rel=1e-4)
    with pytest.raises(ValueError, match="at least 2 videos"):
        TrainConfig(motion_seeking=1.0, batch_size=1)


def _trainer(cfg, **kw):
    G, D = build_models(cfg, seed=0)
    return GANTrainer(G, D, TrainConfig(batch_size=4, device="cpu", **kw))


def test_one_step_lowers_the_discriminator_loss_on_a_fixed_batch(tiny_cfg):
    torch.manual_seed(0)
    trainer = _trainer(tiny_cfg)
    real = torch.rand(4, 3, 16, 16, 16) * 2 - 1
    with torch.no_grad():
        fake = trainer.G(torch.randn(4, tiny_cfg.z_dim))

    def loss_now():
        with torch.no_grad():
            return d_loss(trainer.D(real), trainer.D(fake)).item()

    before = loss_now()
    for _ in range(3):
        trainer.step(real)
    assert loss_now() < before


def test_flicker_counts_the_foreground_change_only_where_the_mask_shows_it():
    f = torch.zeros(1, 3, 3, 2, 2)
    f[:, :, 1] = 1.0                                # every pixel jumps by 1/2 in [0, 1] units, then back
    shut, open_ = torch.zeros(1, 1, 3, 2, 2), torch.ones(1, 1, 3, 2, 2)
    assert flicker_penalty(f, shut).item() == 0
    assert flicker_penalty(f, open_).item() == pytest.approx(0.5)
    half = open_.clone()
    half[..., 0] = 0                                # the left column is shut
    assert flicker_penalty(f, half).item() == pytest.approx(0.25)
    # a foreground that stays needs no change, wherever the mask goes
    assert flicker_penalty(torch.rand(1, 3, 1, 2, 2).expand(1, 3, 3, 2, 2), torch.rand(1, 1, 3, 2, 2)).item() == 0
    assert flicker_penalty(f, None).item() == 0


def test_the_flicker_penalty_joins_the_generator_loss_only_when_weighted(tiny_cfg):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = _trainer(tiny_cfg).step(batch)
    weighted = _trainer(tiny_cfg, flicker=5.0).step(batch)
    assert plain["flicker"] > 0
    assert weighted["loss_g"] == pytest.approx(plain["loss_g"] + 5.0 * plain["flicker"], rel=1e-5)
    with pytest.raises(ValueError, match="flicker must be at least 0"):
        TrainConfig(flicker=-1)


def test_r1_is_the_squared_input_gradient_of_d_per_clip():
    # a linear D, logit = <w, x>, has the same gradient w at every clip: ||w||^2
    w = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    real = torch.randn(5, 3, 2, 4, 4, requires_grad=True)
    logits = (real * w).flatten(1).sum(dim=1)
    assert r1_penalty(logits, real).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
    # a flat D has none; the graph is kept, so the penalty itself can train D
    scale = torch.tensor(2.0, requires_grad=True)
    r1_penalty(scale * logits, real).backward()
    assert scale.grad.item() == pytest.approx(2 * 2 * w.pow(2).sum().item(), rel=1e-5)   # d(s^2 |w|^2)/ds
    assert r1_penalty(0 * logits, real).item() == 0


def test_the_r1_penalty_joins_only_the_discriminator_loss_when_weighted(tiny_cfg):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = _trainer(tiny_cfg).step(batch)
    weighted = _trainer(tiny_cfg, r1=4.0).step(batch)
    assert "r1" not in plain and weighted["r1"] > 0
    assert weighted["loss_d"] == pytest.approx(plain["loss_d"] + 4.0 / 2 * weighted["r1"], rel=1e-5)
    assert weighted["loss_g"] != plain["loss_g"]   # G meets the D that R1 has changed
    with pytest.raises(ValueError, match="r1 must be at least 0"):
        TrainConfig(r1=-1)
    with pytest.raises(ValueError, match="r1 needs precision fp32 or bf16"):
        TrainConfig(r1=1, precision="fp16")


def test_the_discriminator_can_learn_at_its_own_rate(tiny_cfg):
    same, apart = _trainer(tiny_cfg, lr=1e-4), _trainer(tiny_cfg, lr=1e-4, lr_d=1e-5)
    assert [g["lr"] for g in same.opt_D.param_groups] == [1e-4]
    assert [g["lr"] for g in apart.opt_G.param_groups] == [1e-4]
    assert [g["lr"] for g in apart.opt_D.param_groups] == [1e-5]
    # the first Adam step moves every weight by about lr, whatever its gradient
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    moved = {}
    for name, trainer in (("same", same), ("apart", apart)):
        before = [p.detach().clone() for p in trainer.D.parameters()]
        trainer.step(batch)
        moved[name] = max((p - b).abs().max().item() for p, b in zip(trainer.D.parameters(), before))
    assert moved["same"] == pytest.approx(1e-4, rel=0.01) and moved["apart"] == pytest.approx(1e-5, rel=0.01)
    with pytest.raises(ValueError, match="lr_d must be above 0"):
        TrainConfig(lr_d=0.0)


def test_step_reports_plain_floats_for_logging(tiny_cfg):
    rec = _trainer(tiny_cfg).step(torch.zeros(4, 3, 16, 16, 16))
    assert set(rec) == {"step", "loss_d", "loss_g", "loss_adv", "mask_l1", "mask_blend", "flicker", "d_real",
                        "d_fake"}
    assert all(isinstance(v, (int, float)) for v in rec.values())
    assert 0 <= rec["d_real"] <= 1 and 0 <= rec["d_fake"] <= 1
    assert rec["loss_g"] == pytest.approx(rec["loss_adv"] + 0.1 * rec["mask_l1"])


def test_the_generator_step_trains_g_and_the_discriminator_step_trains_d(tiny_cfg):
    trainer = _trainer(tiny_cfg)
    g0 = [p.clone() for p in trainer.G.parameters()]
    d0 = [p.clone() for p in trainer.D.parameters()]
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    assert all(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()) if b.requires_grad)
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters()))
    assert all(p.requires_grad for p in trainer.D.parameters())


def test_k_discriminator_steps_need_k_real_batches(tiny_cfg):
    trainer = _trainer(tiny_cfg, d_steps=2)
    batch = torch.rand(4, 3, 16, 16, 16)
    with pytest.raises(ValueError, match="2 real batches"):
        trainer.step(batch)
    assert trainer.step([batch, batch])["step"] == 1


def test_cpu_training_repeats_exactly_with_a_fixed_seed(tiny_cfg):
    batch = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    runs = []
    for _ in range(2):
        trainer = _trainer(tiny_cfg)
        runs.append([trainer.step(batch) for _ in range(3)])
    assert runs[0] == runs[1]


def test_fp16_on_the_cpu_is_refused_with_the_alternative_named(tiny_cfg):
    with pytest.raises(ValueError, match="bf16"):
        _trainer(tiny_cfg, precision="fp16")


def test_bf16_autocast_and_channels_last_run_on_the_cpu(tiny_cfg):
    rec = _trainer(tiny_cfg, precision="bf16", channels_last=True).step(torch.rand(4, 3, 16, 16, 16))
    assert math.isfinite(rec["loss_d"]) and math.isfinite(rec["loss_g"])


def test_shuffle_stream_visits_every_clip_once_per_epoch_and_resumes_mid_stream():
    full = ShuffleStream(10, seed=3)
    it = iter(full)
    first = [next(it) for _ in range(25)]
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:20]) == list(range(10))
    assert first[:10] != first[10:20]
    resumed = iter(ShuffleStream(10, seed=3, start=13))
    assert [next(resumed) for _ in range(12)] == first[13:25]


def test_the_moving_average_of_g_follows_g_and_is_what_samples_are_drawn_from(tiny_cfg):
    trainer = _trainer(tiny_cfg, ema_decay=0.5)
    start = [p.clone() for p in trainer.G_ema.parameters()]
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    for s, a, g in zip(start, trainer.G_ema.parameters(), trainer.G.parameters()):
        assert torch.allclose(a, 0.5 * s + 0.5 * g)
    assert not any(p.requires_grad for p in trainer.G_ema.parameters())
    assert trainer.sampler is trainer.G_ema and _trainer(tiny_cfg).sampler is not None
    z = torch.randn(2, tiny_cfg.z_dim)
    with torch.no_grad():
        assert torch.equal(trainer.generate(z), trainer.G_ema.eval()(z))
