"""The shipped model: loads by name, is checked against its manifest, and really makes motion."""

import json
import shutil

import pytest

from vgan_lib import pretrained
from vgan_lib.errors import CheckpointError
from vgan_lib.metrics import quality_report
from vgan_lib.model import VideoGANConfig
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

NAME = "small-synthetic"


def test_the_shipped_model_loads_by_name_with_the_manifests_config():
    info = pretrained.manifest(NAME)
    G, D = pretrained.load_pretrained(NAME)
    assert G.cfg == VideoGANConfig(**info["model_config"]) and not G.training and not D.training
    assert (pretrained.PRETRAINED_DIR / info["file"]).stat().st_size == info["bytes"] <= 30e6
    for key in ("commands", "iterations", "wall_seconds", "library_version", "sha256", "quality"):
        assert key in info, key


def test_the_package_itself_offers_load_pretrained():
    import vgan_lib

    assert vgan_lib.load_pretrained is pretrained.load_pretrained
    with pytest.raises(AttributeError, match="no attribute 'load_pretrainde'"):
        vgan_lib.load_pretrainde


def test_a_damaged_weights_file_is_refused_by_its_sha256(tmp_path, monkeypatch):
    for suffix in (".json", ".pt"):
        shutil.copy(pretrained.PRETRAINED_DIR / f"{NAME}{suffix}", tmp_path)
    weights = tmp_path / f"{NAME}.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(CheckpointError, match=r"small-synthetic.pt: sha256 .* does not match the manifest"):
        pretrained.load_pretrained(NAME)


def test_an_unknown_name_lists_the_shipped_models():
    with pytest.raises(CheckpointError, match=r"no shipped model called 'huge'.*small-synthetic"):
        pretrained.load_pretrained("huge")


def _report(tmp_path):
    info = pretrained.manifest(NAME)
    spec = SyntheticSpec(**{**info["data"]["spec"], "count": 256})  # clip i does not depend on the count
    list_file = make_synthetic(tmp_path, spec, progress=False)
    G, _ = pretrained.load_pretrained(NAME)
    return quality_report(G, list_file, n=64, seed=1)


@pytest.mark.slow
def test_the_shipped_generator_moves_at_least_half_as_much_as_the_real_clips_and_does_not_collapse(tmp_path):
    r = _report(tmp_path)
    gen, real, floor = r["generated"], r["real"], r["untrained"]
    assert r["motion_ratio"] >= 0.5 and r["moving_ratio"] >= 0.5, json.dumps(r)
    assert floor["motion_energy"] < 0.1 * real["motion_energy"]  # an untrained G is nearly still
    # the mask opens on a minority of the picture, and the open region moves
    assert gen["mask_open"] < 0.5 and gen["mask_centroid_travel"] > 10 * floor["mask_centroid_travel"]
    # no collapse: distinct z give distinct videos, about as different as real clips are
    assert gen["pairwise_rms_min"] > 0.02 and gen["pairwise_rms_mean"] > 0.5 * real["pairwise_rms_mean"]
    # most videos move, and not all in the same places: an untrained G's videos are all still and alike
    assert gen["still_share"] < 0.5 and gen["motion_overlap"] < floor["motion_overlap"] - 0.1, json.dumps(r)
    # its colours are about as close to the real clips' as other real clips' are; an untrained G's are grey
    assert gen["colour_distance"] < 2 * real["colour_distance"] < floor["colour_distance"], json.dumps(r)


@pytest.mark.slow
def test_the_shipped_generator_moves_no_more_than_2x_the_real_clips(tmp_path):
    r = _report(tmp_path)
    assert r["motion_ratio"] <= 2.0 and r["moving_ratio"] <= 2.0, json.dumps(r)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known shortfall: the shipped model's videos still move in the same places "
                                       "at the same moments more often than real clips (motion overlap about 0.36 "
                                       "against the real clips' 0.13; its manifest's notes). Strict: a model that "
                                       "meets the target makes this XPASS and fail, so the mark comes off")
def test_the_shipped_generator_moves_in_as_many_videos_and_as_many_ways_as_the_real_clips(tmp_path):
    r = _report(tmp_path)
    gen, real = r["generated"], r["real"]
    assert gen["still_share"] <= 2 * real["still_share"] + 0.05, json.dumps(r)
    assert gen["motion_overlap"] <= 2 * real["motion_overlap"], json.dumps(r)
