"""The synthetic data: deterministic, in the golf format, static scenes with moving objects."""

import json

import numpy as np
import pytest

from vgan_lib.data import GolfClips
from vgan_lib.errors import DataError
from vgan_lib.synthetic import SyntheticSpec, make_synthetic, render_clip


def test_clip_i_is_the_same_whatever_else_is_generated():
    assert np.array_equal(render_clip(7, frames=8, size=32, seed=1), render_clip(7, frames=8, size=32, seed=1))
    assert not np.array_equal(render_clip(7, frames=8, size=32, seed=1), render_clip(8, frames=8, size=32, seed=1))
    assert not np.array_equal(render_clip(7, frames=8, size=32, seed=1), render_clip(7, frames=8, size=32, seed=2))


def test_the_scene_stays_still_while_objects_move():
    for i in range(20):
        clip = render_clip(i, frames=32, size=64).astype(int)
        changed = np.abs(clip[1:] - clip[:-1]).max(axis=-1) > 0  # (T-1, H, W)
        ever_changed = changed.any(axis=0).mean()
        # objects move: something changes between frames ...
        assert changed.any(axis=(1, 2)).mean() > 0.5, i
        # ... but most of the picture is background that never changes
        assert ever_changed < 0.8, i
        assert changed.mean() < 0.25, i


def test_the_written_set_is_golf_format_and_loads_with_the_golf_loader(synthetic_dir):
    spec = json.loads((synthetic_dir / "synthetic.json").read_text())
    lines = (synthetic_dir / "train.txt").read_text().splitlines()
    assert len(lines) == spec["count"] == 48
    ds = GolfClips(synthetic_dir / "train.txt", frames=16, size=16)
    clip = ds[0]
    assert clip.shape == (3, 16, 16, 16) and -1 <= clip.min() and clip.max() <= 1


def test_varied_lengths_give_clips_shorter_than_the_maximum(tmp_path):
    from PIL import Image
    make_synthetic(tmp_path, SyntheticSpec(count=12, frames=20, size=16, min_frames=4), workers=1, progress=False)
    heights = {Image.open(tmp_path / p).size[1] // 16 for p in (tmp_path / "train.txt").read_text().split()}
    assert min(heights) < 20 and max(heights) <= 20 and min(heights) >= 4


def test_an_existing_identical_set_is_reused_and_a_different_spec_rewrites(tmp_path):
    spec = SyntheticSpec(count=4, frames=4, size=16)
    make_synthetic(tmp_path, spec, workers=1, progress=False)
    clip = tmp_path / "clips" / "000" / "000000.jpg"
    stamp = clip.stat().st_mtime_ns
    make_synthetic(tmp_path, spec, workers=1, progress=False)
    assert clip.stat().st_mtime_ns == stamp
    make_synthetic(tmp_path, SyntheticSpec(count=5, frames=4, size=16), workers=1, progress=False)
    assert len((tmp_path / "train.txt").read_text().split()) == 5


def test_two_processes_write_the_same_bytes_as_one(tmp_path):
    spec = SyntheticSpec(count=130, frames=4, size=16)
    make_synthetic(tmp_path / "a", spec, workers=1, progress=False)
    make_synthetic(tmp_path / "b", spec, workers=2, progress=False)
    a = (tmp_path / "a" / "train.txt").read_text()
    assert a == (tmp_path / "b" / "train.txt").read_text()
    for rel in a.split()[::17]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_an_output_path_that_cannot_be_a_folder_is_named(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(DataError, match="f/out: cannot create the output folder"):
        make_synthetic(tmp_path / "f" / "out", SyntheticSpec(count=1, frames=2, size=16), progress=False)
