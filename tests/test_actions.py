"""The generated UCF-format action set: layout, splits, determinism, decodability, motion-not-looks."""

import hashlib
from types import SimpleNamespace

import av
import numpy as np
import pytest

from vgan_lib.model import VideoGANConfig
from vgan_lib.ucf.clips import load_ucf101
from vgan_lib.ucf.index import held_out_groups, index_ucf101, parse_ucf_name
from vgan_lib.ucf.synthetic import CATALOG, ActionSpec, class_names, make_actions, render_video

# frame_size is shrunk for speed; odd sizes and frame rates still appear
SPEC = ActionSpec(classes=3, groups=5, clips_per_group=2, seed=7, frame_size=(160, 120), odd_fraction=0.4)


@pytest.fixture(scope="module")
def action_set(tmp_path_factory):
    return make_actions(tmp_path_factory.mktemp("actions"), SPEC, workers=1, progress=False)


def test_layout_is_the_official_download_layout(action_set):
    videos = sorted((action_set / "UCF-101").glob("*/*.avi"))
    assert len(videos) == 3 * 5 * 2
    for v in videos:
        cls, group, clip = parse_ucf_name(v.name)
        assert v.parent.name == cls and 1 <= group <= 5 and 1 <= clip <= 2
    lists = action_set / "ucfTrainTestlist"
    assert sorted(p.name for p in lists.iterdir()) == [
        "classInd.txt", "testlist01.txt", "testlist02.txt", "testlist03.txt",
        "trainlist01.txt", "trainlist02.txt", "trainlist03.txt"]


def test_list_files_use_crlf_and_one_indexed_labels_like_the_official_ones(action_set):
    lists = action_set / "ucfTrainTestlist"
    raw = (lists / "classInd.txt").read_bytes()
    assert raw == b"1 Kayaking\r\n2 Swing\r\n3 YoYo\r\n"
    train = (lists / "trainlist01.txt").read_bytes()
    test = (lists / "testlist01.txt").read_bytes()
    assert train.count(b"\r\n") == train.count(b"\n") > 0
    assert all(len(line.split()) == 2 and line.split()[1] in (b"1", b"2", b"3") for line in train.splitlines())
    assert all(len(line.split()) == 1 for line in test.splitlines())


@pytest.mark.parametrize("split", [1, 2, 3])
def test_splits_hold_out_whole_groups(action_set, split):
    index = index_ucf101(action_set, split)
    assert index.layout == "official"
    assert {int(v.group[1:]) for v in index.test} == held_out_groups(split, 5)
    assert not {int(v.group[1:]) for v in index.train} & held_out_groups(split, 5)
    assert len(index.train) + len(index.test) == 30


def test_two_classes_are_the_yoyo_and_kayaking_stand_ins():
    assert class_names(2) == ["Kayaking", "YoYo"]
    assert len(CATALOG) >= 10


def test_most_videos_are_320_by_240_at_25_fps_and_some_are_not():
    spec = ActionSpec(classes=2, groups=25, clips_per_group=4)
    shapes = []
    for cls in class_names(2):
        for g in range(1, 26):
            for c in range(1, 5):
                video, fps = render_video(spec, cls, g, c) if (g + c) % 4 == 0 else (None, None)
                if video is not None:
                    shapes.append((video.shape[2], video.shape[1], fps, len(video)))
    common = [s for s in shapes if s[:3] == (320, 240, 25)]
    assert len(common) >= 0.7 * len(shapes)
    assert len(common) < len(shapes), "some videos should have another size or frame rate"
    lengths = [s[3] for s in shapes]
    assert min(lengths) < 32 <= max(lengths)


def test_videos_decode_back_with_pyav(action_set):
    for path in sorted((action_set / "UCF-101").glob("*/*.avi"))[:6]:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            n = sum(1 for _ in c.decode(stream))
        assert SPEC.min_frames <= n <= SPEC.max_frames
        assert stream.codec_context.name == "mpeg4"


def test_the_loader_reads_the_mixed_sizes_and_lengths(action_set):
    cfg = VideoGANConfig(frames=32, size=16, width=4)
    data = load_ucf101(action_set, cfg, split=2, progress=False)
    assert data.classes == ["Kayaking", "Swing", "YoYo"]
    sizes = set()
    for v in data.index.train + data.index.test:
        with av.open(str(v.path)) as c:
            sizes.add((c.streams.video[0].width, c.streams.video[0].height))
    assert len(sizes) > 1
    lengths = data.train.lengths + data.test.lengths
    assert min(lengths) < 32 < max(lengths)
    for i in range(len(data.train)):
        clip, label = data.train[i]
        assert clip.shape == (3, 32, 16, 16)
    clips, label = data.test[0]
    assert clips.shape == (5, 3, 32, 16, 16)


def test_generation_is_deterministic_given_the_seed(tmp_path):
    spec = ActionSpec(classes=2, groups=3, clips_per_group=1, seed=3, frame_size=(64, 48))

    def digest(root):
        return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    a = digest(make_actions(tmp_path / "a", spec, workers=1, progress=False))
    b = digest(make_actions(tmp_path / "b", spec, workers=1, progress=False))
    assert a == b
    c = digest(make_actions(tmp_path / "c", ActionSpec(classes=2, groups=3, clips_per_group=1, seed=4,
                                                         frame_size=(64, 48)), workers=1, progress=False))
    assert c != a


def test_a_folder_with_the_same_spec_is_not_rewritten(tmp_path):
    spec = ActionSpec(classes=2, groups=3, clips_per_group=1, frame_size=(64, 48))
    root = make_actions(tmp_path, spec, workers=1, progress=False)
    video = next((root / "UCF-101").glob("*/*.avi"))
    before = video.stat().st_mtime_ns
    make_actions(tmp_path, spec, workers=1, progress=False)
    assert video.stat().st_mtime_ns == before


def _path(cls, seed):
    """The centre track (x, y) over 2 s of one draw of a class's motion, in short sides."""
    r = np.random.default_rng(seed)
    start = SimpleNamespace(x0=0.1, y0=0.05, phase=r.uniform(0, 6.3), direction=r.choice([-1.0, 1.0]), angle=0.3)
    x, y, angle, scale = CATALOG[cls](np.arange(50) / 25, r, start, 4 / 3, 1.0)
    return np.unwrap(x, period=2 * (4 / 3 / 2 + 0.3)), y, angle


def test_yoyo_moves_up_and_down_and_kayaking_sideways():
    for seed in range(20):
        x, y, _ = _path("YoYo", seed)
        assert np.ptp(x) == 0 and np.ptp(y) > 0.5
        x, y, angle = _path("Kayaking", seed)
        assert np.ptp(x) > 0.45 and np.ptp(y) < 0.05 and np.ptp(angle) < 0.25
        assert np.all(np.diff(x) * np.sign(x[-1] - x[0]) > 0), "a glide keeps its direction"


def test_motion_differs_between_classes_for_the_same_picture():
    spec = ActionSpec(classes=2, odd_fraction=0.0, frame_size=(64, 48))
    yoyo, _ = render_video(spec, "YoYo", 4, 2)
    kayak, _ = render_video(spec, "Kayaking", 4, 2)
    assert yoyo.shape == kayak.shape
    # the same scene and object: the frames differ only where the object moved
    same = (yoyo == kayak).all(-1).mean()
    assert 0.5 < same < 1.0


def test_appearance_does_not_give_the_class_away():
    # a nearest-centroid classifier on the first frame's mean colour, trained on the
    # train groups, should be near chance on the test groups: only motion tells
    spec = ActionSpec(classes=2, groups=25, clips_per_group=2, frame_size=(64, 48), min_frames=2, max_frames=2)
    feats = {"train": [], "test": []}
    for label, cls in enumerate(class_names(2)):
        for g in range(1, 26):
            for c in (1, 2):
                side = "test" if g in held_out_groups(1) else "train"
                feats[side].append((render_video(spec, cls, g, c)[0][0].reshape(-1, 3).mean(0), label))
    centroids = [np.mean([f for f, y in feats["train"] if y == k], axis=0) for k in (0, 1)]
    hits = [int(np.argmin([np.linalg.norm(f - m) for m in centroids]) == y) for f, y in feats["test"]]
    assert np.mean(hits) < 0.75


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="groups"):
        ActionSpec(groups=2)
    with pytest.raises(ValueError, match="classes"):
        ActionSpec(classes=len(CATALOG) + 1)
    with pytest.raises(ValueError, match="frame_size"):
        ActionSpec(frame_size=(321, 240))


def test_cli_make_actions_writes_the_set(tmp_path, capsys):
    from vgan_lib.cli import main

    out = tmp_path / "acts"
    assert main(["make-actions", "--out", str(out), "--classes", "2", "--groups", "3", "--clips-per-group", "1",
                 "--workers", "1", "--no-progress"]) == 0
    assert len(list((out / "UCF-101").glob("*/*.avi"))) == 6
    assert "6 videos of 2 classes" in capsys.readouterr().out
    assert main(["make-actions", "--out", str(out), "--groups", "2"]) == 2
    assert "argument --groups: must be at least 3" in capsys.readouterr().err
