"""vgan_lib.latent: interpolation between latents, distances along paths, principal directions."""

import math

import pytest
import torch

from vgan_lib.latent import (angle, interpolate, interpolation_path, lerp, path_length, principal_directions,
                             sample_latents, slerp, step_lengths)
from vgan_lib.model import VideoGANConfig, build_models, generate

D = 100


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(7)
    return torch.randn(D, generator=g), torch.randn(D, generator=g)


def unit(v):
    return v / v.norm()


# --- lerp ------------------------------------------------------------------------------------

def test_lerp_hits_both_endpoints_and_the_midpoint(pair):
    z0, z1 = pair
    assert torch.equal(lerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(lerp(z0, z1, 1.0), z1)
    torch.testing.assert_close(lerp(z0, z1, 0.5), (z0 + z1) / 2)


def test_lerp_midpoint_of_orthogonal_equal_length_latents_is_shorter_by_sqrt2():
    z0 = torch.zeros(D)
    z0[0] = 10.0
    z1 = torch.zeros(D)
    z1[1] = 10.0
    assert float(lerp(z0, z1, 0.5).norm()) == pytest.approx(10 / math.sqrt(2), rel=1e-6)


# --- slerp -----------------------------------------------------------------------------------

def test_slerp_returns_the_endpoints_exactly(pair):
    z0, z1 = pair
    assert torch.equal(slerp(z0, z1, 0.0), z0)
    assert torch.equal(slerp(z0, z1, 1.0), z1)


def test_slerp_keeps_the_norm_of_equal_length_latents(pair):
    z0, z1 = pair
    z1 = unit(z1) * z0.norm()
    path = slerp(z0, z1, torch.linspace(0, 1, 11))
    torch.testing.assert_close(path.norm(dim=1), z0.norm().expand(11), rtol=1e-5, atol=0)


def test_slerp_interpolates_the_norm_linearly(pair):
    z0, z1 = pair
    a = torch.linspace(0, 1, 9)
    expected = (1 - a) * z0.norm() + a * z1.norm()
    torch.testing.assert_close(slerp(z0, z1, a).norm(dim=1), expected, rtol=1e-5, atol=0)


def test_slerp_turns_at_constant_angular_speed(pair):
    z0, z1 = pair
    total = angle(z0, z1)
    for a in (0.1, 0.25, 0.5, 0.9):
        assert angle(z0, slerp(z0, z1, a)) == pytest.approx(a * total, abs=1e-3)


def test_slerp_stays_in_the_plane_of_its_endpoints(pair):
    z0, z1 = pair
    basis, _ = torch.linalg.qr(torch.stack([z0, z1], dim=1).double())
    z = slerp(z0, z1, 0.37).double()
    residual = z - basis @ (basis.T @ z)
    assert float(residual.norm()) < 1e-5 * float(z.norm())


def test_slerp_of_near_parallel_latents_is_finite_and_matches_lerp(pair):
    z0, _ = pair
    for z1 in (z0.clone(), z0 * (1 + 1e-7), z0 + 1e-6 * unit(pair[1]), 2 * z0):
        out = slerp(z0, z1, torch.linspace(0, 1, 5))
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, lerp(z0, z1, torch.linspace(0, 1, 5)), rtol=1e-5, atol=1e-5)


def test_slerp_of_opposite_latents_turns_through_a_right_angle_at_the_midpoint(pair):
    z0, _ = pair
    mid = slerp(z0, -z0, 0.5)
    assert torch.isfinite(mid).all()
    assert float(mid.norm()) == pytest.approx(float(z0.norm()), rel=1e-5)
    assert angle(z0, mid) == pytest.approx(90.0, abs=1e-3)
    torch.testing.assert_close(slerp(z0, -z0, 1.0), -z0)


def test_slerp_with_a_zero_latent_falls_back_to_the_straight_line(pair):
    z0, _ = pair
    out = slerp(z0, torch.zeros(D), 0.25)
    torch.testing.assert_close(out, 0.75 * z0)


def test_slerp_works_on_batches_with_one_alpha_per_row():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, D, generator=g), torch.randn(3, D, generator=g)
    out = slerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    assert out.shape == (3, D)
    assert torch.equal(out[0], z0[0]) and torch.equal(out[2], z1[2])
    torch.testing.assert_close(out[1], slerp(z0[1], z1[1], 0.5))


def test_interpolate_chooses_the_method_by_name(pair):
    z0, z1 = pair
    assert torch.equal(interpolate(z0, z1, 0.3, "linear"), lerp(z0, z1, 0.3))
    assert torch.equal(interpolate(z0, z1, 0.3, "spherical"), slerp(z0, z1, 0.3))
    with pytest.raises(ValueError, match="method"):
        interpolate(z0, z1, 0.3, "cubic")


# --- paths and distances ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_path_runs_from_z0_to_z1_in_even_steps(pair, method):
    z0, z1 = pair
    z1 = unit(z1) * z0.norm()  # equal lengths: slerp's steps are then equal too
    path = interpolation_path(z0, z1, 6, method)
    assert path.shape == (6, D)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    steps = step_lengths(path)
    assert steps.shape == (5,)
    torch.testing.assert_close(steps, steps.mean().expand(5), rtol=1e-4, atol=0)


def test_spherical_path_is_longer_than_the_straight_one(pair):
    z0, z1 = pair
    straight = path_length(interpolation_path(z0, z1, 21, "linear"))
    assert straight == pytest.approx(float((z1 - z0).norm()), rel=1e-5)
    assert path_length(interpolation_path(z0, z1, 21, "spherical")) > straight


def test_interpolation_path_rejects_bad_arguments(pair):
    z0, z1 = pair
    with pytest.raises(ValueError, match="steps"):
        interpolation_path(z0, z1, 1)
    with pytest.raises(ValueError, match="same length"):
        interpolation_path(z0, z1[:10], 5)


def test_step_lengths_measure_videos_as_flat_vectors():
    videos = torch.zeros(3, 3, 2, 4, 4)
    videos[1] += 0.5
    videos[2] += 1.0
    expected = 0.5 * math.sqrt(3 * 2 * 4 * 4)
    torch.testing.assert_close(step_lengths(videos), torch.tensor([expected, expected], dtype=torch.float64))
    torch.testing.assert_close(step_lengths(videos, rms=True), torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert path_length(videos, rms=True) == pytest.approx(1.0)


def test_sample_latents_are_the_same_for_the_same_seed():
    assert torch.equal(sample_latents(2, D, 3), sample_latents(2, D, 3))
    assert not torch.equal(sample_latents(2, D, 3), sample_latents(2, D, 4))
    assert sample_latents(2, D, 3).shape == (2, D)


def test_angle_in_degrees():
    assert angle(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
    assert angle(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])) == pytest.approx(180.0)


# --- generating and principal directions -----------------------------------------------------

@pytest.fixture(scope="module")
def tiny_G():
    G, _ = build_models(VideoGANConfig(frames=16, size=16, width=4))
    return G.eval()


def test_generate_batches_give_the_same_videos_without_gradients(tiny_G):
    z = sample_latents(5, D, 0)
    a = generate(tiny_G, z, batch_size=2)
    b = generate(tiny_G, z, batch_size=5)
    assert a.video.shape == (5, 3, 16, 16, 16) and a.background.shape == (5, 3, 16, 16)
    assert a.mask.shape == (5, 1, 16, 16, 16)
    torch.testing.assert_close(a.video, b.video)
    assert not a.video.requires_grad


def test_generate_with_a_one_stream_generator_has_no_background_or_mask():
    G, _ = build_models(VideoGANConfig(frames=16, size=16, width=4, generator="one_stream"))
    s = generate(G.eval(), sample_latents(2, D, 0))
    assert s.background is None and s.mask is None and s.video.shape == (2, 3, 16, 16, 16)


def test_principal_directions_are_orthonormal_and_sorted(tiny_G):
    pcs = principal_directions(tiny_G, 4)
    assert pcs.vectors.shape == (4, D)
    torch.testing.assert_close(pcs.vectors @ pcs.vectors.T, torch.eye(4), atol=1e-5, rtol=0)
    shares = pcs.explained.tolist()
    assert shares == sorted(shares, reverse=True)
    assert 0 < sum(shares) <= 1


def test_principal_directions_have_a_fixed_sign(tiny_G):
    v = principal_directions(tiny_G, 3).vectors
    biggest = v.gather(1, v.abs().argmax(dim=1, keepdim=True))
    assert (biggest > 0).all()
    assert torch.equal(v, principal_directions(tiny_G, 3).vectors)


def test_the_first_principal_direction_moves_the_first_layer_most(tiny_G):
    # both streams' first layers, BatchNorm (eval) included, before the ReLU
    fg = torch.nn.Sequential(tiny_G.foreground[0], tiny_G.foreground[1])
    bg = torch.nn.Sequential(tiny_G.background[0], tiny_G.background[1])

    def response(z):
        return torch.cat([fg(z.view(-1, D, 1, 1, 1)).flatten(1), bg(z.view(-1, D, 1, 1)).flatten(1)], dim=1)

    with torch.no_grad():
        pc1 = principal_directions(tiny_G, 1).vectors[0]
        base = response(torch.zeros(1, D))
        moved_pc1 = float((response(pc1[None]) - base).norm())
        randoms = torch.randn(200, D, generator=torch.Generator().manual_seed(1))
        randoms = randoms / randoms.norm(dim=1, keepdim=True)
        moved_random = (response(randoms) - base).norm(dim=1)
    assert moved_pc1 > float(moved_random.max())


def test_principal_directions_check_k(tiny_G):
    with pytest.raises(ValueError, match="k must be"):
        principal_directions(tiny_G, 0)
    with pytest.raises(ValueError, match="k must be"):
        principal_directions(tiny_G, D + 1)

