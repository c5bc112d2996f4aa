"""The golf-format loader follows the original's semantics and names every bad file."""

import numpy as np
import pytest
import torch

from conftest import write_strip
from vgan_lib.data import GolfClips, load_strip, read_list_file
from vgan_lib.errors import DataError


def _flat_frames(values, size=8):
    """n frames, each one flat grey level, as uint8 (n, size, size, 3)."""
    return np.stack([np.full((size, size, 3), v, np.uint8) for v in values])


def _list(tmp_path, *names, text=None):
    path = tmp_path / "list.txt"
    path.write_text(text if text is not None else "".join(f"{n}\n" for n in names))
    return path


def test_a_short_clip_repeats_its_last_frame(tmp_path):
    write_strip(tmp_path / "a.jpg", _flat_frames([0, 64, 128, 255]), quality=100)
    clip = load_strip(tmp_path / "a.jpg", frames=6, size=8)
    assert clip.shape == (3, 6, 8, 8)
    levels = clip.mean(dim=(0, 2, 3))
    assert torch.allclose(levels[3:], torch.ones(3), atol=0.02)  # frames 4, 5, 6 are frame 4
    assert levels[2] < levels[3]


def test_a_long_clip_keeps_the_first_frames_from_the_top(tmp_path):
    write_strip(tmp_path / "a.jpg", _flat_frames([0, 40, 80, 120, 160, 200]), quality=100)
    levels = load_strip(tmp_path / "a.jpg", frames=3, size=8).mean(dim=(0, 2, 3))
    expected = torch.tensor([0, 40, 80]) / 127.5 - 1
    assert torch.allclose(levels, expected, atol=0.02)


def test_pixels_map_from_0_255_to_minus_one_one(tmp_path):
    write_strip(tmp_path / "a.jpg", _flat_frames([0, 255]), quality=100)
    clip = load_strip(tmp_path / "a.jpg", frames=2, size=8)
    assert clip[:, 0].max() <= -0.98 and clip[:, 1].min() >= 0.98
    assert clip.dtype == torch.float32


def test_frames_are_resized_bilinearly_without_crop(tmp_path):
    # a 2x2 checkerboard of 4x4 blocks survives halving as four flat quadrants
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[:8, 8:] = 255
    frame[8:, :8] = 255
    write_strip(tmp_path / "a.png", frame[None])
    clip = load_strip(tmp_path / "a.png", frames=1, size=8)
    assert clip.shape == (3, 1, 8, 8)
    assert torch.all(clip[:, 0, :4, :4] == -1) and torch.all(clip[:, 0, :4, 4:] == 1)
    # halving with bilinear filtering averages 2x2 neighbourhoods exactly
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8)[None, :, None], (16, 1, 3))
    write_strip(tmp_path / "ramp.png", ramp[None])
    row = (load_strip(tmp_path / "ramp.png", frames=1, size=8)[0, 0, 0] + 1) * 127.5
    assert torch.allclose(row, torch.arange(8) * 32 + 8.0, atol=1e-3)


def test_grayscale_strips_are_converted_to_rgb(tmp_path):
    write_strip(tmp_path / "g.jpg", _flat_frames([100, 200]), mode="L")
    clip = load_strip(tmp_path / "g.jpg", frames=2, size=8)
    assert clip.shape == (3, 2, 8, 8)
    assert torch.allclose(clip[0], clip[1]) and torch.allclose(clip[1], clip[2])


def test_the_data_set_reads_paths_relative_to_the_root_and_labels_when_asked(tmp_path):
    write_strip(tmp_path / "v" / "1.jpg", _flat_frames([10, 20]))
    write_strip(tmp_path / "v" / "2.jpg", _flat_frames([30]))
    lst = _list(tmp_path, text="v/1.jpg 3 extra tokens\n\n  v/2.jpg   7\n")
    ds = GolfClips(lst, frames=4, size=8, labelled=True)
    assert len(ds) == 2
    clip, label = ds[1]
    assert clip.shape == (3, 4, 8, 8) and label == 7
    assert GolfClips(lst, frames=4, size=8)[0].shape == (3, 4, 8, 8)


def test_a_dataloader_with_workers_gives_the_same_batches(synthetic_dir):
    ds = GolfClips(synthetic_dir / "train.txt", frames=16, size=16)
    serial = next(iter(torch.utils.data.DataLoader(ds, batch_size=6)))
    parallel = next(iter(torch.utils.data.DataLoader(ds, batch_size=6, num_workers=2)))
    assert serial.shape == (6, 3, 16, 16, 16) and torch.equal(serial, parallel)


# --- bad input: one line that names the file and the problem

def test_missing_list_file(tmp_path):
    with pytest.raises(DataError, match=r"nope.txt: no such list file"):
        GolfClips(tmp_path / "nope.txt")


def test_empty_list_file(tmp_path):
    with pytest.raises(DataError, match=r"list.txt: list file is empty"):
        read_list_file(_list(tmp_path, text="\n  \n"))


def test_a_listed_clip_that_is_missing_is_reported_when_the_data_set_is_built(tmp_path):
    write_strip(tmp_path / "a.jpg", _flat_frames([1]))
    with pytest.raises(DataError, match=r"gone.jpg: listed in .*list.txt but missing"):
        GolfClips(_list(tmp_path, "a.jpg", "gone.jpg"))


def test_a_truncated_jpeg_is_named(tmp_path):
    path = write_strip(tmp_path / "t.jpg", (np.random.default_rng(0).random((4, 16, 16, 3)) * 255).astype(np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"t.jpg: truncated or unreadable image"):
        load_strip(path, frames=4, size=16)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    (tmp_path / "x.jpg").write_text("hello")
    with pytest.raises(DataError, match=r"x.jpg: not an image"):
        load_strip(tmp_path / "x.jpg")


def test_a_strip_whose_height_is_not_a_multiple_of_its_width_is_named(tmp_path):
    from PIL import Image
    Image.new("RGB", (16, 40)).save(tmp_path / "odd.jpg")
    with pytest.raises(DataError, match=r"odd.jpg: strip height 40 is not a multiple of its width 16"):
        load_strip(tmp_path / "odd.jpg")


def test_a_labelled_list_without_a_label_names_the_line(tmp_path):
    with pytest.raises(DataError, match=r"list.txt:2: labelled list line has no label"):
        read_list_file(_list(tmp_path, text="a.jpg 1\nb.jpg\n"), labelled=True)
    with pytest.raises(DataError, match=r"list.txt:1: label 'x' is not an integer"):
        read_list_file(_list(tmp_path, text="a.jpg x\n"), labelled=True)


def test_errors_from_inside_dataloader_workers_still_name_the_file(tmp_path):
    from vgan_lib.errors import one_line

    (tmp_path / "bad.jpg").write_text("not a jpeg")
    ds = GolfClips(_list(tmp_path, "bad.jpg"), frames=2, size=8)
    with pytest.raises(DataError) as err:
        next(iter(torch.utils.data.DataLoader(ds, num_workers=1)))
    assert one_line(err.value) == f"{tmp_path / 'bad.jpg'}: not an image (text)"
