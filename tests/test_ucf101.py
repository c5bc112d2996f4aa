"""The UCF-101 loader: split files, bare class trees, decoding to the GAN's clip shape, the cache, bad input."""

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vgan_lib.ucf import clips as ucf_clips
from vgan_lib.ucf import decode
from vgan_lib.ucf.synthetic import write_avi
from vgan_lib.errors import DataError
from vgan_lib.model import VideoGANConfig
from vgan_lib.ucf.clips import load_ucf101, stratified_subset, take_window, to_clip
from vgan_lib.ucf.decode import FrameCache, decode_video
from vgan_lib.ucf.index import Video, group_split, held_out_groups, index_ucf101, read_class_index

CFG = VideoGANConfig(frames=16, size=16, width=4)


# ---------------------------------------------------------------------------- helpers

def write_crlf(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + "\r\n" for line in lines).encode())
    return path


def counting_video(path: Path, n: int, w: int = 32, h: int = 24, fps: int = 25, step: int = 10) -> Path:
    """Frame i is flat grey of brightness step * i + 20: the decoded order is readable back."""
    frames = np.stack([np.full((h, w, 3), step * i + 20, np.uint8) for i in range(n)])
    return write_avi(path, frames, fps)


def brightness(frames: np.ndarray) -> list:
    return [int(round(float(f.mean()))) for f in frames]


def banded_video(path: Path, w: int, h: int, n: int = 3) -> Path:
    """Green centre square of side min(w, h), red outside it (on the long side)."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[..., 0] = 220
    s = min(w, h)
    y0, x0 = (h - s) // 2, (w - s) // 2
    frame[y0:y0 + s, x0:x0 + s] = (0, 200, 0)
    return write_avi(path, np.repeat(frame[None], n, axis=0), 25)


def official_tree(root: Path, videos: bool = True) -> Path:
    """A tiny copy of the official download's layout, HandstandPushups quirk and CRLF included.

    ucfTrainTestlist/classInd.txt, trainlist01.txt (with labels), testlist01.txt
    (without); videos under UCF-101/Class/. Groups g01-g07 test, g08+ train.
    """
    lists = root / "ucfTrainTestlist"
    write_crlf(lists / "classInd.txt", ["1 ApplyEyeMakeup", "2 HandstandPushups", "3 YoYo"])
    names = {"ApplyEyeMakeup": "ApplyEyeMakeup", "HandstandPushups": "HandStandPushups", "YoYo": "YoYo"}
    train, test = [], []
    for label, (folder, stem) in enumerate(names.items(), 1):
        for g in (1, 2, 8, 9):
            for c in (1, 2):
                rel = f"{folder}/v_{stem}_g{g:02d}_c{c:02d}.avi"
                (test if g <= 7 else train).append((rel, label))
                path = root / "UCF-101" / rel
                if videos:
                    counting_video(path, 6 + g + c)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
    # stray blank lines and trailing spaces, as hand-edited copies have
    write_crlf(lists / "trainlist01.txt", [f"{rel} {label}  " for rel, label in train] + ["", "  "])
    write_crlf(lists / "testlist01.txt", [""] + [f"{rel} " for rel, _ in test])
    return root


def bare_tree(root: Path, classes=("Kayaking", "YoYo"), groups=25, clips=2) -> Path:
    """Empty .avi files in class folders: enough for indexing, which does not decode."""
    for cls in classes:
        for g in range(1, groups + 1):
            for c in range(1, clips + 1):
                p = root / cls / f"v_{cls}_g{g:02d}_c{c:02d}.avi"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.touch()
    return root


# ---------------------------------------------------------------------------- split files

def test_class_index_reads_crlf_and_ignores_blank_lines_and_trailing_spaces(tmp_path):
    f = write_crlf(tmp_path / "classInd.txt", ["1 ApplyEyeMakeup  ", "", "2 YoYo\t", "   "])
    assert read_class_index(f) == ["ApplyEyeMakeup", "YoYo"]


def test_class_index_with_a_gap_in_labels_is_an_error_naming_the_file(tmp_path):
    f = write_crlf(tmp_path / "classInd.txt", ["1 A", "3 C"])
    with pytest.raises(DataError, match="classInd.txt"):
        read_class_index(f)


def test_official_layout_gives_zero_indexed_labels_from_the_lists(tmp_path):
    index = index_ucf101(official_tree(tmp_path, videos=False), split=1)
    assert index.layout == "official"
    assert index.classes == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert len(index.train) == 12 and len(index.test) == 12
    assert sorted({v.label for v in index.train}) == [0, 1, 2]
    assert all(v.path.parent.name == index.classes[v.label] for v in index.train + index.test)
    assert {v.group for v in index.test} == {"g01", "g02"}
    assert {v.group for v in index.train} == {"g08", "g09"}


def test_handstand_pushups_files_take_their_class_from_the_folder(tmp_path):
    index = index_ucf101(official_tree(tmp_path, videos=False), split=1)
    hs = [v for v in index.test if v.path.name.startswith("v_HandStandPushups")]
    assert len(hs) == 4
    assert all(index.classes[v.label] == "HandstandPushups" for v in hs)


def test_a_listed_path_in_another_letter_case_is_still_found(tmp_path):
    root = official_tree(tmp_path, videos=False)
    f = root / "ucfTrainTestlist" / "testlist01.txt"
    f.write_bytes(f.read_bytes().replace(b"HandstandPushups/", b"HandStandPushups/"))
    index = index_ucf101(root, split=1)
    assert sum(v.label == 1 for v in index.test) == 4
    assert all(v.path.is_file() for v in index.test)


def test_label_outside_class_index_is_an_error_naming_file_and_line(tmp_path):
    root = official_tree(tmp_path, videos=False)
    f = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = f.read_text().splitlines()
    lines[2] = lines[2].split()[0] + " 7"
    write_crlf(f, lines)
    with pytest.raises(DataError, match=r"trainlist01\.txt:3: label 7 is outside classInd\.txt \(1\.\.3\)") as e:
        index_ucf101(root, split=1)
    assert "\n" not in str(e.value)


def test_label_outside_class_index_is_skipped_and_reported_when_asked(tmp_path):
    root = official_tree(tmp_path, videos=False)
    f = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = f.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " 0"
    write_crlf(f, lines)
    index = index_ucf101(root, split=1, on_error="skip")
    assert len(index.train) == 11
    assert len(index.skipped) == 1 and "trainlist01.txt:1" in index.skipped[0]


def test_a_label_that_disagrees_with_the_folder_is_an_error(tmp_path):
    root = official_tree(tmp_path, videos=False)
    f = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = f.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " 3"  # an ApplyEyeMakeup video labelled YoYo
    write_crlf(f, lines)
    with pytest.raises(DataError, match="disagrees with the folder"):
        index_ucf101(root, split=1)


def test_a_listed_file_that_is_missing_is_an_error_naming_it(tmp_path):
    root = official_tree(tmp_path, videos=False)
    gone = root / "UCF-101" / "YoYo" / "v_YoYo_g01_c02.avi"
    gone.unlink()
    with pytest.raises(DataError, match=r"v_YoYo_g01_c02\.avi: listed in testlist01\.txt line \d+ but missing"):
        index_ucf101(root, split=1)
    index = index_ucf101(root, split=1, on_error="skip")
    assert len(index.test) == 11 and "v_YoYo_g01_c02.avi" in index.skipped[0]


def test_a_missing_split_file_is_an_error_naming_it(tmp_path):
    root = official_tree(tmp_path, videos=False)
    with pytest.raises(DataError, match="trainlist02.txt: no such split list"):
        index_ucf101(root, split=2)


# ---------------------------------------------------------------------------- bare trees

def test_official_group_rule_tests_seven_groups_of_25_per_split():
    assert held_out_groups(1) == set(range(1, 8))
    assert held_out_groups(2) == set(range(8, 15))
    assert held_out_groups(3) == set(range(15, 22))
    assert held_out_groups(1, 5) == {1} and held_out_groups(3, 5) == {3}


@pytest.mark.parametrize("split", [1, 2, 3])
def test_bare_tree_split_never_puts_one_group_in_train_and_test(tmp_path, split):
    index = index_ucf101(bare_tree(tmp_path), split=split)
    assert index.layout == "folders" and index.classes == ["Kayaking", "YoYo"]
    train_groups = {(v.label, v.group) for v in index.train}
    tested = {(v.label, v.group) for v in index.test}
    assert not train_groups & tested
    assert {int(g[1:]) for _, g in tested} == held_out_groups(split)
    assert len(index.train) + len(index.test) == 2 * 25 * 2


def test_bare_tree_without_group_names_splits_by_file_per_class(tmp_path):
    for cls in ("a", "b"):
        for i in range(10):
            p = tmp_path / cls / f"clip{i}.mp4"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
    train, test = group_split(index_ucf101(tmp_path).train + index_ucf101(tmp_path).test, split=1)
    assert {v.label for v in test} == {0, 1} and {v.label for v in train} == {0, 1}
    assert not {v.path for v in train} & {v.path for v in test}
    assert len(test) == 2 * round(10 * 7 / 25)


def test_bare_tree_ignores_hidden_folders_such_as_the_cache(tmp_path):
    bare_tree(tmp_path, groups=3, clips=1)
    (tmp_path / ".vgan-cache" / "x").mkdir(parents=True)
    assert index_ucf101(tmp_path).classes == ["Kayaking", "YoYo"]


def test_a_class_folder_without_videos_is_an_error_or_skipped(tmp_path):
    bare_tree(tmp_path, groups=3, clips=1)
    (tmp_path / "Empty").mkdir()
    (tmp_path / "Empty" / "notes.txt").write_text("no videos here")
    with pytest.raises(DataError, match=r"Empty: class folder has no videos"):
        index_ucf101(tmp_path)
    index = index_ucf101(tmp_path, on_error="skip")
    assert index.classes == ["Kayaking", "YoYo"] and "Empty" in index.skipped[0]


# ---------------------------------------------------------------------------- decoding

def test_a_4_by_3_video_becomes_square_frames_at_the_model_size(tmp_path):
    frames = decode_video(counting_video(tmp_path / "v.avi", 5, 64, 48), size=16)
    assert frames.shape == (5, 16, 16, 3) and frames.dtype == np.uint8


@pytest.mark.parametrize("w,h", [(96, 48), (48, 96)], ids=["wide", "portrait"])
def test_short_side_is_resized_and_the_centre_cropped(tmp_path, w, h):
    frames = decode_video(banded_video(tmp_path / "v.avi", w, h), size=16)
    assert frames.shape == (3, 16, 16, 3)
    inner = frames[:, 2:-2, 2:-2].reshape(-1, 3).mean(0)  # the edges may blend after resizing
    assert inner[1] > 150 and inner[0] < 60, "the red bands on the long side should be cropped away"


def test_grayscale_video_gives_three_equal_channels(tmp_path):
    path = tmp_path / "grey.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("png", rate=25)
        s.width, s.height, s.pix_fmt = 40, 30, "gray"
        for i in range(4):
            img = np.full((30, 40), 40 * i + 30, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="gray")))
        c.mux(s.encode())
    frames = decode_video(path, size=16)
    assert frames.shape == (4, 16, 16, 3)
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2])
    assert brightness(frames) == [30, 70, 110, 150]


def test_stride_keeps_every_kth_frame(tmp_path):
    path = counting_video(tmp_path / "v.avi", 12)
    assert np.allclose(brightness(decode_video(path, 16)), [10 * i + 20 for i in range(12)], atol=3)
    assert np.allclose(brightness(decode_video(path, 16, stride=3)), [20, 50, 80, 110], atol=3)


def test_fps_resampling_keeps_the_duration(tmp_path):
    path = counting_video(tmp_path / "v.avi", 30, fps=30, step=7)   # one second
    assert len(decode_video(path, 16, fps=15)) == 15
    assert len(decode_video(path, 16, fps=60)) == 60
    assert np.allclose(brightness(decode_video(path, 16, fps=15))[:3], [20, 34, 48], atol=3)


def test_short_videos_are_padded_by_repeating_the_last_frame(tmp_path):
    frames = decode_video(counting_video(tmp_path / "v.avi", 5), 16)
    window = take_window(frames, 0, 16)
    assert window.shape == (16, 16, 16, 3)
    assert np.array_equal(window[:5], frames)
    assert all(np.array_equal(window[i], frames[4]) for i in range(5, 16))


def test_clips_have_the_gan_shape_and_range():
    frames = np.zeros((16, 8, 8, 3), np.uint8)
    frames[:, :, :, 0] = 255
    clip = to_clip(frames)
    assert clip.shape == (3, 16, 8, 8) and clip.dtype == torch.float32
    assert clip[0].eq(1).all() and clip[1:].eq(-1).all()


# ---------------------------------------------------------------------------- bad videos

def test_truncated_avi_is_a_one_line_error_naming_the_file(tmp_path):
    path = counting_video(tmp_path / "cut.avi", 20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(DataError) as e:
        decode_video(path, 16)
    assert str(path) in str(e.value) and "truncated" in str(e.value) and "\n" not in str(e.value)


def test_corrupt_file_is_a_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="noise.avi: corrupt video") as e:
        decode_video(path, 16)
    assert "\n" not in str(e.value)


def test_a_video_with_zero_frames_is_an_error(tmp_path):
    path = tmp_path / "empty.avi"
    c = av.open(str(path), "w")
    s = c.add_stream("mpeg4", rate=25)
    s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
    c.start_encoding()  # header only, no frames
    c.close()
    with pytest.raises(DataError, match="empty.avi: video has no frames"):
        decode_video(path, 16)


def test_bad_videos_are_reported_by_name_before_any_dataloader_exists(tmp_path):
    root = official_tree(tmp_path)
    bad = root / "UCF-101" / "YoYo" / "v_YoYo_g08_c01.avi"
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(DataError, match="v_YoYo_g08_c01.avi"):
        load_ucf101(root, CFG, progress=False)


def test_bad_videos_are_skipped_and_reported_when_asked(tmp_path):
    root = official_tree(tmp_path)
    bad = root / "UCF-101" / "YoYo" / "v_YoYo_g08_c01.avi"
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.warns(UserWarning, match="skipped 1"):
        data = load_ucf101(root, CFG, on_error="skip", progress=False)
    assert len(data.train) == 11 and len(data.test) == 12
    assert len(data.skipped) == 1 and "v_YoYo_g08_c01.avi" in data.skipped[0]
    assert bad not in [v.path for v in data.train.videos]


def damaged_video(path: Path) -> Path:
    """A noisy video (enough coded data to damage) whose bytes from a third of the way are overwritten by zeros,
    keeping its length: FFmpeg conceals the damage and decodes on."""
    frames = np.random.default_rng(0).integers(0, 256, (20, 48, 64, 3), dtype=np.uint8)
    data = bytearray(write_avi(path, frames, 25).read_bytes())
    start = len(data) // 3
    data[start:start + len(data) // 10] = bytes(len(data) // 10)
    path.write_bytes(bytes(data))
    return path


def test_a_video_with_overwritten_bytes_is_found_by_its_decoding_errors(tmp_path):
    level = av.logging.get_level()
    with pytest.raises(DataError, match=r"damaged.avi: corrupt video, \d+ decoding errors in \d+ frames \(first: "):
        decode_video(damaged_video(tmp_path / "damaged.avi"), 16)
    assert av.logging.get_level() == level  # FFmpeg's logging is left as it was
    assert decode_video(counting_video(tmp_path / "fine.avi", 5), 16).shape == (5, 16, 16, 3)


def test_video_frames_gives_every_frame_with_the_frame_rate(tmp_path):
    frames = list(decode.video_frames(counting_video(tmp_path / "v.avi", 7, fps=12)))
    assert len(frames) == 7 and {rate for _, rate in frames} == {12.0}
    assert np.allclose(brightness([f.to_ndarray(format="rgb24") for f, _ in frames]), range(20, 90, 10), atol=2)


@pytest.mark.parametrize("content, what", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n",
     "a Git LFS pointer, not the file: run git lfs pull"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML page"),
    (b"", "an empty file"),
])
def test_a_file_that_is_no_video_is_named_for_what_it_is(tmp_path, content, what):
    (tmp_path / "v.avi").write_bytes(content)
    with pytest.raises(DataError) as e:
        decode_video(tmp_path / "v.avi", 16)
    assert str(e.value) == f"{tmp_path / 'v.avi'}: not a video ({what})"


def test_a_damaged_video_is_skipped_and_reported_with_skip_bad(tmp_path):
    root = official_tree(tmp_path)
    bad = damaged_video(root / "UCF-101" / "YoYo" / "v_YoYo_g08_c01.avi")
    with pytest.raises(DataError, match="v_YoYo_g08_c01.avi: corrupt video"):
        load_ucf101(root, CFG, progress=False)
    with pytest.warns(UserWarning, match="skipped 1"):
        data = load_ucf101(root, CFG, on_error="skip", progress=False)
    assert len(data.skipped) == 1 and "decoding errors" in data.skipped[0]
    assert bad not in [v.path for v in data.train.videos] and len(data.train) == 11


# ---------------------------------------------------------------------------- cache and data sets

def test_fake_official_download_loads_into_gan_shaped_clips(tmp_path):
    data = load_ucf101(official_tree(tmp_path), CFG, split=1, windows=3, progress=False)
    assert data.classes == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    clip, label = data.train[0]
    assert clip.shape == (3, 16, 16, 16) and clip.min() >= -1 and clip.max() <= 1
    clips, label = data.test[0]
    assert clips.shape == (3, 3, 16, 16, 16) and 0 <= label < 3
    assert data.settings == {"split": 1, "frames": 16, "size": 16, "stride": 1, "fps": None, "windows": 3}


def test_second_pass_reads_the_cache_without_decoding(tmp_path, monkeypatch):
    root = official_tree(tmp_path)
    first = load_ucf101(root, CFG, progress=False)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache holds the video")

    monkeypatch.setattr(decode, "decode_video", no_decoding)
    second = load_ucf101(root, CFG, progress=False)
    assert second.train.files == first.train.files
    assert torch.equal(second.train[3][0], first.train[3][0])


def test_changing_a_setting_or_the_video_does_not_reuse_the_cache(tmp_path):
    path = counting_video(tmp_path / "v.avi", 8)
    cache = FrameCache(tmp_path / "cache", size=16)
    assert cache.path_for(path) != FrameCache(tmp_path / "cache", size=16, stride=2).path_for(path)
    assert cache.path_for(path) != FrameCache(tmp_path / "cache", size=32).path_for(path)
    before = cache.path_for(path)
    counting_video(path, 9)
    os.utime(path, ns=(1, 1))
    assert cache.path_for(path) != before


def test_cache_files_are_uint8_at_the_model_resolution(tmp_path):
    path = counting_video(tmp_path / "v.avi", 7, 64, 48)
    _, files, lengths, _ = FrameCache(tmp_path / "c", size=16, stride=2).prepare([Video(path, 0, "g01")],
                                                                                  progress=False)
    a = np.load(files[0])
    assert a.dtype == np.uint8 and a.shape == (4, 16, 16, 3) and lengths == [4]
    assert not [p for p in files[0].parent.iterdir() if p.suffix == ".tmp"]


def test_train_windows_repeat_with_a_seed_and_change_between_epochs(tmp_path):
    root = official_tree(tmp_path)
    cfg = VideoGANConfig(frames=16, size=16, width=4)
    a = load_ucf101(root, cfg, seed=5, progress=False).train
    b = load_ucf101(root, cfg, seed=5, progress=False).train
    assert a.starts == b.starts
    # some videos are longer than T=16 only with a shorter clip: use 8-frame windows
    a.frames = b.frames = 8
    a.set_epoch(0), b.set_epoch(0)
    assert a.starts == b.starts
    starts = [list(a.starts)]
    for epoch in range(1, 4):
        a.set_epoch(epoch)
        starts.append(list(a.starts))
    assert any(s != starts[0] for s in starts[1:])
    assert all(0 <= s <= n - 8 for s, n in zip(a.starts, a.lengths))


def test_test_videos_take_evenly_spaced_windows(tmp_path):
    frames = np.arange(40, dtype=np.uint8)[:, None, None, None].repeat(8, 1).repeat(8, 2).repeat(3, 3)
    np.save(tmp_path / "v.npy", frames)
    test = ucf_clips.TestVideos([Video(tmp_path / "v.avi", 1, "g01")], [tmp_path / "v.npy"], [40], frames=16,
                                windows=3)
    assert test.starts(0) == [0, 12, 24]
    clips, label = test[0]
    assert clips.shape == (3, 3, 16, 8, 8) and label == 1
    firsts = ((clips[:, 0, 0, 0, 0] + 1) * 127.5).round().tolist()
    assert firsts == [0, 12, 24]


def test_dataloader_workers_only_read_the_cache(tmp_path, monkeypatch):
    data = load_ucf101(official_tree(tmp_path), CFG, progress=False)
    monkeypatch.setattr(decode, "decode_video", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    loader = torch.utils.data.DataLoader(data.train, batch_size=4, num_workers=1)
    batches = list(loader)
    assert sum(len(b[1]) for b in batches) == len(data.train)


def test_stratified_subset_keeps_every_class_and_repeats_with_the_seed():
    labels = [0] * 10 + [1] * 20 + [2] * 3
    chosen = stratified_subset(labels, 0.3, seed=1)
    picked = [labels[i] for i in chosen]
    assert picked.count(0) == 3 and picked.count(1) == 6 and picked.count(2) == 1
    assert chosen == stratified_subset(labels, 0.3, seed=1)
    assert chosen != stratified_subset(labels, 0.3, seed=2)
    assert stratified_subset(labels, 1.0) == list(range(len(labels)))


def test_cli_reports_a_bad_video_in_one_line(tmp_path, capsys):
    from vgan_lib.cli import main

    root = official_tree(tmp_path)
    bad = root / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi"
    bad.write_bytes(bad.read_bytes()[:200])
    args = ["finetune", "--mode", "scratch", "--data", str(root), "--frames", "16", "--size", "16", "--width", "4",
            "--epochs", "1", "--out", str(tmp_path / "clf.pt"), "--no-progress", "--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vgan: error: ") and "v_YoYo_g01_c01.avi" in err and "\n" not in err
    assert main(args + ["--skip-bad"]) == 0
    assert "skipped: " in capsys.readouterr().err
