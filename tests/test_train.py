"""The GAN objective and one step of Algorithm 1."""

import math

import pytest
import torch

from vgan_lib.model import build_models
from vgan_lib.train import GANTrainer, ShuffleStream, TrainConfig, d_loss, g_loss, mask_penalty


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


def _trainer(cfg, **kw):
    G, D = build_models(cfg, seed=0)
    # fp32 and the plain layout unless a test asks otherwise: their numbers repeat on every CPU
    kw = {"precision": "fp32", "channels_last": False, **kw}
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


def test_step_reports_plain_floats_for_logging(tiny_cfg):
    rec = _trainer(tiny_cfg).step(torch.zeros(4, 3, 16, 16, 16))
    assert set(rec) == {"step", "loss_d", "loss_g", "loss_adv", "mask_l1", "d_real", "d_fake"}
    assert all(isinstance(v, (int, float)) for v in rec.values())
    assert 0 <= rec["d_real"] <= 1 and 0 <= rec["d_fake"] <= 1
    assert rec["loss_g"] == pytest.approx(rec["loss_adv"] + 0.1 * rec["mask_l1"])


def _reference_iteration(G, D, real, z, cfg):
    """Algorithm 1 written out with the original's G step: D's logits on the fakes are computed
    once, and both nets' gradients are taken from them before either net moves."""
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    streams = G(z, return_streams=True)
    logit_real, logit_fake = D(real), D(streams.video)
    loss_d = d_loss(logit_real, logit_fake)
    loss_g = g_loss(logit_fake) + cfg.mask_lambda * streams.mask.abs().mean()
    grads_D = torch.autograd.grad(loss_d, list(D.parameters()), retain_graph=True)
    grads_G = torch.autograd.grad(loss_g, list(G.parameters()))
    for params, grads in ((D.parameters(), grads_D), (G.parameters(), grads_G)):
        for p, g in zip(params, grads):
            p.grad = g
    opt_D.step()
    opt_G.step()


def test_one_iteration_is_algorithm_1_with_the_generator_loss_from_the_d_steps_logits(tiny_cfg):
    real = torch.rand(4, 3, 16, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    trainer = _trainer(tiny_cfg)
    G, D = build_models(tiny_cfg, seed=0)
    z = torch.randn(4, tiny_cfg.z_dim, generator=torch.Generator().manual_seed(trainer.cfg.seed))
    _reference_iteration(G.train(), D.train(), real, z, trainer.cfg)
    trainer.step(real)
    for mine, ref in ((trainer.G, G), (trainer.D, D)):
        for (name, a), b in zip(mine.state_dict().items(), ref.state_dict().values()):
            assert torch.equal(a, b), name


def test_d_runs_on_the_fakes_once_per_iteration(tiny_cfg):
    trainer = _trainer(tiny_cfg)
    calls = []
    trainer.D.register_forward_hook(lambda *_: calls.append(1))
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    assert len(calls) == 2   # the real batch and the fake one


def test_the_generator_step_trains_g_and_the_discriminator_step_trains_d(tiny_cfg):
    trainer = _trainer(tiny_cfg)
    g0 = [p.clone() for p in trainer.G.parameters()]
    d0 = [p.clone() for p in trainer.D.parameters()]
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    assert all(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()) if b.requires_grad)
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters()))
    assert all(p.requires_grad for p in trainer.D.parameters())


def test_two_time_scales_give_d_its_own_rate_and_a_resume_keeps_both(tiny_cfg, tmp_path):
    trainer = _trainer(tiny_cfg, lr=1e-4, lr_d=4e-4)
    assert trainer.opt_G.param_groups[0]["lr"] == 1e-4 and trainer.opt_D.param_groups[0]["lr"] == 4e-4
    assert _trainer(tiny_cfg).opt_D.param_groups[0]["lr"] == 2e-4   # by default D's rate is G's, as in the original
    trainer.step(torch.rand(4, 3, 16, 16, 16))
    again = _trainer(tiny_cfg, lr=1e-4, lr_d=4e-4)
    again.load_state_dict(trainer.state_dict())
    assert again.opt_G.param_groups[0]["lr"] == 1e-4 and again.opt_D.param_groups[0]["lr"] == 4e-4


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


def test_auto_precision_takes_bf16_only_where_it_is_fast(monkeypatch):
    from vgan_lib import device

    cpu = torch.device("cpu")
    assert device.pick_precision("fp32", cpu) == "fp32" and device.pick_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(device, "native_bf16", lambda: True)
    assert device.pick_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device, "native_bf16", lambda: False)   # emulated bf16 is 22-28x slower
    assert device.pick_precision("auto", cpu) == "fp32"
    assert TrainConfig().precision == "auto" and TrainConfig().channels_last   # the fast path by default
