"""The networks: sizes, shapes, ranges and the two-stream composition."""

import pytest
import torch

from vgan_lib.model import (PRESETS, ActionClassifier, Discriminator, OneStreamGenerator, TwoStreamGenerator,
                            VideoGANConfig, build_models, count_parameters, get_config, init_weights,
                            MinibatchDiscrimination, minibatch_std)


def test_paper_generator_has_exactly_the_original_parameter_count():
    G = TwoStreamGenerator(PRESETS["paper"])
    assert count_parameters(G) == 16_245_383
    assert count_parameters(G.foreground) == 12_651_328
    assert count_parameters(G.video_head) == 12_291
    assert count_parameters(G.mask_head) == 4_097
    assert count_parameters(G.background) == 3_577_667


def test_paper_discriminator_has_exactly_the_original_parameter_count():
    D = Discriminator(PRESETS["paper"])
    assert count_parameters(D) == 11_041_473
    assert count_parameters(D.trunk) == 11_025_088
    # the original's 2-way softmax head is one more 512x2x4x4 filter plus a bias
    two_way = torch.nn.Conv3d(512, 2, (2, 4, 4))
    assert count_parameters(D.trunk) + count_parameters(two_way) == 11_057_858


@pytest.mark.parametrize("preset", ["paper", "small"])
def test_generator_streams_have_the_documented_shapes(preset):
    cfg = PRESETS[preset]
    G, _ = build_models(cfg)
    s = G(torch.randn(2, cfg.z_dim), return_streams=True)
    T, S = cfg.frames, cfg.size
    assert s.video.shape == (2, 3, T, S, S)
    assert s.foreground.shape == (2, 3, T, S, S)
    assert s.background.shape == (2, 3, S, S)
    assert s.mask.shape == (2, 1, T, S, S)


def test_discriminator_trunk_gives_the_feature_block_and_head_one_logit():
    cfg = PRESETS["paper"]
    D = Discriminator(cfg).eval()
    x = torch.rand(2, 3, 32, 64, 64) * 2 - 1
    assert D.features(x).shape == (2, 512, 2, 4, 4)
    assert D(x).shape == (2,)


def test_minibatch_std_gives_each_clip_the_spread_of_its_group_and_one_more_head_filter():
    h = torch.randn(6, 8, 2, 4, 4)
    s = minibatch_std(h, 4)             # groups of gcd(4, 6) = 2 clips, 3 apart: clips 0 and 3, 1 and 4, 2 and 5
    assert s.shape == (6, 1, 2, 4, 4)
    expected = [h[i::3].std(dim=0, unbiased=False).mean() for i in range(3)]
    for clip in range(6):
        assert torch.allclose(s[clip], expected[clip % 3].expand(1, 2, 4, 4), atol=1e-5)
    # clips that are all alike have no spread; a clip alone has none either
    assert minibatch_std(h[:1].expand(4, -1, -1, -1, -1), 4).max() < 1e-3
    assert minibatch_std(h[:1], 4).max() < 1e-3
    paper = Discriminator(get_config("paper", minibatch_std=4))
    assert count_parameters(paper) == 11_041_473 + 2 * 4 * 4     # the extra input channel of the last kernel
    assert paper(torch.rand(4, 3, 32, 64, 64) * 2 - 1).shape == (4,)
    assert paper.features(torch.rand(1, 3, 32, 64, 64)).shape == (1, 512, 2, 4, 4)   # the trunk is the original's


def test_minibatch_discrimination_counts_how_close_each_clip_comes_to_the_others_of_its_batch():
    layer = init_weights(MinibatchDiscrimination(8, (1, 2, 2), kernels=5, dims=3))
    h = torch.randn(6, 8, 1, 2, 2)
    o = layer(h)
    assert o.shape == (6, 5, 1, 2, 2)
    m = layer.project(h).reshape(6, 5, 3)
    j = 4   # clip 4's closeness to the others, kernel by kernel, by the paper's formula
    expected = sum(torch.exp(-(m[j] - m[i]).abs().sum(-1)) for i in range(6) if i != j)
    assert torch.allclose(o[j, :, 0, 0, 0], expected, atol=1e-6)
    # a batch of one clip repeated is as close as can be: every other clip counts 1; a clip alone has no others
    assert torch.allclose(layer(h[:1].expand(4, -1, -1, -1, -1)), torch.full((4, 5, 1, 2, 2), 3.0))
    assert layer(h[:1]).abs().max() == 0
    cfg = get_config("small", minibatch_features=32)
    D = init_weights(Discriminator(cfg))
    assert count_parameters(D) == count_parameters(Discriminator(get_config("small"))) + 256 * 32 * 8 * 4 + 32 * 4
    assert D(torch.rand(3, 3, 16, 32, 32) * 2 - 1).shape == (3,)


def test_outputs_stay_in_range_and_background_is_the_same_in_every_frame(tiny_cfg):
    G, _ = build_models(tiny_cfg, seed=1)
    s = G(torch.randn(3, tiny_cfg.z_dim) * 3, return_streams=True)
    assert s.video.abs().max() <= 1 and s.foreground.abs().max() <= 1 and s.background.abs().max() <= 1
    assert 0 <= s.mask.min() and s.mask.max() <= 1
    # wherever the mask is closed, every frame shows the one background image
    composite_bg = (s.video - s.mask * s.foreground) / (1 - s.mask)
    assert torch.allclose(composite_bg, s.background.unsqueeze(2).expand_as(composite_bg), atol=1e-5)


def test_composite_is_mask_times_foreground_plus_inverse_mask_times_background(tiny_cfg):
    G, _ = build_models(tiny_cfg)
    s = G(torch.randn(2, tiny_cfg.z_dim), return_streams=True)
    expected = s.mask * s.foreground + (1 - s.mask) * s.background[:, :, None]
    assert torch.allclose(s.video, expected)
    assert torch.equal(G(torch.zeros(2, tiny_cfg.z_dim)), G(torch.zeros(2, tiny_cfg.z_dim)))


def test_training_runs_the_two_heads_as_one_convolution_with_the_same_numbers(tiny_cfg):
    G, _ = build_models(tiny_cfg)
    G.eval()  # BatchNorm from running statistics, so both passes see the same h
    called = []
    for head in (G.video_head[0], G.mask_head[0]):
        head.register_forward_hook(lambda *_: called.append(1))
    z = torch.randn(3, tiny_cfg.z_dim)
    fused = G(z, return_streams=True)
    assert called == []                       # with gradients on, neither head module ran
    with torch.no_grad():
        apart = G(z, return_streams=True)
    assert len(called) == 2
    for a, b in zip(fused, apart):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    fused.video.sum().backward()              # the gradient reaches both heads' own weights
    assert G.video_head[0].weight.grad.abs().sum() > 0 and G.mask_head[0].weight.grad.abs().sum() > 0


def test_one_stream_generator_has_no_mask_and_no_background():
    cfg = PRESETS["paper"]
    G = OneStreamGenerator(cfg)
    assert count_parameters(G) == 12_651_328 + 12_291
    s = G(torch.randn(1, cfg.z_dim), return_streams=True)
    assert s.video.shape == (1, 3, 32, 64, 64) and s.mask is None and s.background is None


def test_initialisation_follows_the_original():
    G, D = build_models(PRESETS["small"], seed=0)
    w = D.trunk[2].weight
    assert abs(w.std().item() - 0.01) < 5e-4 and abs(w.mean().item()) < 5e-4
    bn = D.trunk[3]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and abs(bn.weight.std().item() - 0.02) < 0.01
    assert bn.eps == 1e-3
    assert all(m.bias.abs().max() == 0 for m in D.modules() if isinstance(m, torch.nn.Conv3d))


def test_the_same_seed_gives_the_same_weights_and_another_seed_different_ones(tiny_cfg):
    a, _ = build_models(tiny_cfg, seed=5)
    b, _ = build_models(tiny_cfg, seed=5)
    c, _ = build_models(tiny_cfg, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("bad", [dict(frames=24), dict(size=40), dict(z_dim=0), dict(generator="three_stream")])
def test_impossible_configurations_are_refused_with_the_field_named(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        VideoGANConfig(**bad)


def test_presets_can_be_overridden_and_unknown_presets_are_named():
    assert get_config("paper", width=8).width == 8
    with pytest.raises(ValueError, match="huge"):
        get_config("huge")


def test_action_classifier_reuses_a_trunk_and_gives_k_logits(tiny_cfg):
    D = init_weights(Discriminator(tiny_cfg))
    clf = ActionClassifier(tiny_cfg, num_classes=5, trunk=D.trunk)
    assert clf.trunk is D.trunk
    assert clf(torch.randn(2, 3, 16, 16, 16)).shape == (2, 5)
