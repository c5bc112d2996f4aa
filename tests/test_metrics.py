"""The metrics are plain pixel statistics with known values on hand-made videos."""

import math

import pytest
import torch

from vgan_lib.metrics import (colour_distance, colour_histogram, compare_with_real, diversity, mask_statistics,
                             motion_energy, motion_overlap, moving_share, pairwise_rms, quality_report, real_clips,
                             smoothness, still_share)
from vgan_lib.model import build_models


def moving_square(n=2, T=8, S=16, speed=1):
    """(n, 3, T, S, S) in [-1, 1]: a white 4x4 square moving right by `speed` px per frame on black,
    and its mask (n, 1, T, S, S)."""
    video = -torch.ones(n, 3, T, S, S)
    mask = torch.zeros(n, 1, T, S, S)
    for t in range(T):
        x = 2 + speed * t
        video[:, :, t, 6:10, x:x + 4] = 1
        mask[:, :, t, 6:10, x:x + 4] = 1
    return video, mask


def test_a_still_video_has_no_motion_energy():
    assert motion_energy(torch.zeros(2, 3, 8, 16, 16)) == 0


def test_motion_energy_counts_the_changed_pixels():
    video, _ = moving_square(speed=1)
    # each step one 4-pixel column turns white and one turns black, out of 16x16 pixels, full swing 1.0
    assert motion_energy(video) == pytest.approx(8 / 256)


def test_moving_share_counts_clear_changes_and_ignores_a_faint_shimmer():
    video, _ = moving_square(speed=1)
    assert moving_share(video) == pytest.approx(8 / 256)
    # +-0.1 in [-1, 1] is a change of 0.1 in [0, 1] units: far below the 0.2 threshold, at every pixel
    shimmer = torch.zeros(2, 3, 8, 16, 16)
    shimmer[:, :, 1::2] = 0.2
    assert motion_energy(shimmer) == pytest.approx(0.1)
    assert moving_share(shimmer) == 0


def test_still_videos_are_counted_one_by_one():
    video, _ = moving_square(n=4)
    assert still_share(video) == 0
    video[1:3] = video[1:3, :, :1]  # two of the four hold their first frame: nothing moves in them
    assert still_share(video) == pytest.approx(0.5)
    # a faint shimmer is not motion either
    video[3] = 0
    video[3, :, 1::2] = 0.2
    assert still_share(video) == pytest.approx(0.75)


def test_smoothness_tells_steady_motion_from_a_flicker_between_two_states():
    video, _ = moving_square(speed=1)
    # a 4-pixel-wide square one pixel a step: two steps change twice the columns
    assert smoothness(video) == pytest.approx(2.0)
    flicker = torch.zeros(2, 3, 8, 16, 16)
    flicker[:, :, 1::2] = 0.2  # frames alternate: every other frame is the same picture again
    assert smoothness(flicker) == 0
    assert math.isnan(smoothness(torch.zeros(2, 3, 8, 16, 16)))


def test_the_mask_centroid_travels_with_the_object_and_the_motion_is_inside_the_mask():
    video, mask = moving_square(speed=1)
    stats = mask_statistics(mask, video)
    assert stats["mask_centroid_travel"] == pytest.approx(1.0)
    assert stats["mask_open"] == pytest.approx(16 / 256)
    assert stats["mask_undecided"] == 0  # a hard 0/1 mask
    assert mask_statistics(torch.full_like(mask, 0.5), video)["mask_undecided"] == 1
    # every changed pixel is one the square leaves or arrives at
    assert stats["motion_in_mask"] == pytest.approx(1.0)
    elsewhere = torch.zeros_like(mask)
    elsewhere[..., 0:4, 0:4] = 1  # a mask open only in a corner the square never visits
    assert mask_statistics(elsewhere, video)["motion_in_mask"] == 0
    still = mask_statistics(mask[:, :, :1].expand_as(mask), video)
    assert still["mask_centroid_travel"] == 0 and still["mask_change"] == 0


def test_identical_videos_have_zero_distance_and_distinct_ones_do_not():
    video, _ = moving_square(n=3)
    assert torch.all(pairwise_rms(video) == 0)
    video[1] = -video[1]
    d = diversity(video)
    assert d["pairwise_rms_min"] == 0 and d["pairwise_rms_mean"] > 0.3


def test_motion_overlap_is_1_for_the_same_motion_on_different_scenes_and_0_for_motion_in_different_places():
    video, _ = moving_square(n=2)
    video[1] = video[1] * 0.5 - 0.25  # another, darker scene with the same square doing the same thing
    assert pairwise_rms(video)[0] > 0.1
    assert motion_overlap(video) == pytest.approx(1.0)
    other, _ = moving_square(n=1)
    video[1] = torch.roll(other[0], shifts=8, dims=2)  # the same kind of motion, in rows no other video touches
    assert motion_overlap(video) == pytest.approx(0.0)
    still = torch.cat([video[:1], torch.zeros_like(video[:1])])
    assert motion_overlap(still) == 0  # a still video has no motion to share


def test_colour_distance_is_0_for_the_same_colours_and_1_for_none_shared():
    video, _ = moving_square(n=2)                      # white on black
    assert colour_histogram(video).sum().item() == pytest.approx(1.0)
    assert colour_distance(video, video.flip(2)) == 0  # the same pixels in another order
    red = video.clone()
    red[:, 1:] = -1                                    # the white square turns red
    square = (video[:, 0] > 0).float().mean().item()   # the share of pixels that changed colour
    assert colour_distance(video, red) == pytest.approx(square)
    assert colour_distance(video, torch.zeros_like(video)) == pytest.approx(1.0)   # all mid-grey


def test_an_untrained_generator_is_the_floor(tiny_cfg):
    G, _ = build_models(tiny_cfg, seed=1)
    real, _ = moving_square(n=8, T=16, S=16)
    report = compare_with_real(G, real, n=8, seed=0, untrained=G)
    assert report["generated"] == report["untrained"]
    assert report["motion_ratio"] < 0.01  # an untrained G barely moves
    assert report["untrained"]["colour_distance"] > 0.9   # grey, where the real clips are black and white


def test_the_report_on_golf_format_clips_has_every_figure(tiny_cfg, synthetic_dir):
    G, _ = build_models(tiny_cfg, seed=1)
    report = quality_report(G, synthetic_dir / "train.txt", n=6, seed=0)
    assert set(report) == {"generated", "real", "untrained", "motion_ratio", "moving_ratio"}
    assert {"motion_energy", "pairwise_rms_mean", "motion_overlap", "mask_open", "motion_in_mask",
            "colour_distance"} <= set(report["generated"])
    assert 0 <= report["real"]["colour_distance"] <= 1   # one half of the six clips against the other
    assert report["real"]["motion_energy"] > 0.001  # the synthetic clips move


def test_the_further_real_clips_follow_on_from_the_first_in_the_same_order(tiny_cfg, synthetic_dir):
    listing = synthetic_dir / "train.txt"
    first, further = real_clips(listing, tiny_cfg, n=3), real_clips(listing, tiny_cfg, n=3, skip=3)
    assert torch.equal(torch.cat([first, further]), real_clips(listing, tiny_cfg, n=6))
    assert len(real_clips(listing, tiny_cfg, n=3, skip=10_000)) == 0   # past the end of the set
