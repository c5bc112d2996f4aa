"""Shared fixtures: a tiny model configuration and small golf-format data sets."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vgan_lib.model import VideoGANConfig
from vgan_lib.synthetic import SyntheticSpec, make_synthetic


@pytest.fixture(autouse=True)
def _fixed_threads():
    # the same thread count in every test keeps CPU kernels, and so results, repeatable
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_cfg() -> VideoGANConfig:
    """16 frames of 16x16 at width 4: the real architecture, small enough for a test."""
    return VideoGANConfig(frames=16, size=16, z_dim=8, width=4)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """48 synthetic clips of 24 frames at 32x32 in the golf format (train.txt inside)."""
    out = tmp_path_factory.mktemp("synthetic")
    make_synthetic(out, SyntheticSpec(count=48, frames=24, size=32, seed=3), workers=1, progress=False)
    return out


def write_strip(path: Path, frames: np.ndarray, quality: int = 95, mode: str = "RGB") -> Path:
    """Save uint8 frames (n, S, S, 3) as one golf strip: the frames stacked vertically."""
    n, s = frames.shape[:2]
    img = Image.fromarray(frames.reshape(n * s, s, 3))
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=quality)
    return path


def write_recipe(path: Path, list_file, phases, head: str = ""):
    """The tiny model's recipe file: ``head`` (top-level keys), then the ``(steps, settings)`` phases; loaded."""
    from vgan_lib.recipe import load_recipe

    text = head + f"""
[model]
preset = "small"
frames = 16
size = 16
width = 4
z_dim = 8
[data]
list = "{list_file}"
[train]
batch_size = 4
seed = 1
precision = "fp32"
channels_last = false
"""
    for steps, extra in phases:
        text += f"[[phase]]\nsteps = {steps}\n{extra}\n"
    path.write_text(text)
    return load_recipe(path)
