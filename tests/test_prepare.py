"""``vgan prepare``: any video becomes stabilised golf clips that ``vgan train`` reads as they are.

The footage has a known camera path (pan, shake, a small turn) over the kit's synthetic scenes, moving objects and
one cut. Stabilised, its camera motion must mostly be gone while the objects still move, and the cut must start a new
clip. Bad videos are one line naming the file; a rerun skips finished videos; a killed run lists no missing strip.
"""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vgan_lib.cli import main
from vgan_lib.data import GolfClips
from vgan_lib.errors import DataError
from vgan_lib.prepare import DONE, PrepareSettings, prepare, video_folder
from vgan_lib.stabilise import (CUT_DISTANCE, camera_footage, colour_histogram, histogram_distance, residual_motion,
                                to_square)
from vgan_lib.ucf.decode import iter_frames
from vgan_lib.ucf.synthetic import write_avi

CUT = 30  # the footage's second shot starts at this frame


@pytest.fixture(scope="module")
def footage():
    return camera_footage(shots=(CUT, 34), seed=0)


@pytest.fixture(scope="module")
def shaky_video(footage, tmp_path_factory) -> Path:
    return write_avi(tmp_path_factory.mktemp("footage") / "shaky.avi", footage.video)


@pytest.fixture(scope="module")
def prepared(shaky_video, tmp_path_factory):
    """{stabilise: (result, clips as uint8 (T, 128, 128, 3))} for the footage with and without stabilisation."""
    out = {}
    for stabilise in (True, False):
        folder = tmp_path_factory.mktemp(f"stabilise-{stabilise}")
        result = prepare(shaky_video, folder, PrepareSettings(stabilise=stabilise), progress=False)
        clips = [read_strip(folder / c["file"]) for c in result.records[0]["clips"]]
        out[stabilise] = result, clips
    return out


def read_strip(path) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return pixels.reshape(-1, pixels.shape[1], pixels.shape[1], 3)


def objects_in_clip(footage, first: int, n: int, size: int = 128) -> np.ndarray:
    """bool (n, size, size): where the moving objects are in a stabilised clip, i.e. seen from its first frame's
    camera, cut to a square as prepare does."""
    h, w = footage.video.shape[1:3]
    out = []
    for t in range(first, first + n):
        to_first = footage.poses[first] @ np.linalg.inv(footage.poses[t])  # frame t's pixels -> frame first's
        mask = cv2.warpAffine(footage.masks[t].astype(np.uint8) * 255, to_first[:2], (w, h))
        out.append(to_square(mask, size) > 127)
    return np.stack(out)


def motion_inside_and_outside(clip, objects):
    """Mean |frame difference| where an object is (in either frame) and on the background away from them."""
    diff = np.abs(np.diff(clip.astype(np.int16), axis=0)).mean(-1)
    inside = objects[1:] | objects[:-1]
    near = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for m in inside])
    return diff[inside].mean(), diff[~near].mean()


def test_stabilising_leaves_at_most_a_fifth_of_the_camera_motion(prepared):
    before, after = (residual_motion(prepared[s][1]) for s in (False, True))
    assert before > 1.0, before   # the camera really moves: about 2 px a frame at 128 px
    assert after * 5 <= before, (before, after)


def test_the_moving_objects_still_move_over_a_still_background(prepared, footage):
    for stabilise in (True, False):
        result, clips = prepared[stabilise]
        for c, clip in zip(result.records[0]["clips"], clips):
            objects = objects_in_clip(footage, c["first"], c["frames"])
            assert objects.any(axis=(1, 2)).all()  # an object is in view in every frame
            inside, outside = motion_inside_and_outside(clip, objects)
            if stabilise:
                assert inside > 8 and inside > 5 * outside, (c, inside, outside)
            else:  # the control: without stabilisation the background moves as much as the objects
                assert outside > 5 and inside < 3 * outside, (c, inside, outside)


def test_the_cut_ends_a_clip_and_starts_the_next(prepared):
    clips = prepared[True][0].records[0]["clips"]
    # the first 2 frames are skipped, as the original does; 34 frames at most a clip
    assert [(c["first"], c["frames"]) for c in clips] == [(2, CUT - 2), (CUT, 34)]


def test_a_pan_changes_the_colour_histogram_far_less_than_a_cut(footage):
    hists = [colour_histogram(f) for f in footage.video]
    steps = [histogram_distance(a, b) for a, b in zip(hists, hists[1:])]
    assert steps.pop(CUT - 1) > CUT_DISTANCE > 2 * max(steps)


def test_the_clips_train_with_vgan_train_as_they_are(prepared, tmp_path):
    result, clips = prepared[True]
    root = result.list_file.parent
    assert result.list_file.read_text().split() == [c["file"] for c in result.records[0]["clips"]]
    assert all(c.shape[1:] == (128, 128, 3) and 16 <= len(c) <= 34 for c in clips)
    data = GolfClips(result.list_file, root, frames=16, size=32)
    assert len(data) == 2 and data[1].shape == (3, 16, 32, 32)
    assert main(["train", "--data", str(result.list_file), "--root", str(root), "--iterations", "1",
                 "--batch-size", "2", "--workers", "0", "--precision", "fp32", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0


def test_two_worker_processes_write_the_very_strips_one_process_writes(prepared, shaky_video, tmp_path):
    for name in ("a.avi", "b.avi"):
        os.link(shaky_video, tmp_path / name)
    result = prepare(tmp_path, tmp_path / "out", workers=2, progress=False)
    one = prepared[True][0]
    assert len(result.records) == 2 and result.clips == 4
    for record in result.records:
        for mine, theirs in zip(record["clips"], one.records[0]["clips"]):
            ours = (tmp_path / "out" / mine["file"]).read_bytes()
            assert ours == (one.list_file.parent / theirs["file"]).read_bytes()


def test_a_rerun_skips_finished_videos_and_new_settings_redo_them(shaky_video, tmp_path):
    s = PrepareSettings(stabilise=False, size=32)
    first = prepare(shaky_video, tmp_path, s, progress=False)
    strip = tmp_path / first.records[0]["clips"][0]["file"]
    stamp = strip.stat().st_mtime_ns
    again = prepare(shaky_video, tmp_path, s, progress=False)
    assert again.reused == 1 and again.records == first.records and strip.stat().st_mtime_ns == stamp
    os.utime(shaky_video)  # the video changed: prepared again
    assert prepare(shaky_video, tmp_path, s, progress=False).reused == 0 and strip.stat().st_mtime_ns != stamp
    other = prepare(shaky_video, tmp_path, PrepareSettings(stabilise=False, size=32, frames=20), progress=False)
    assert other.reused == 0 and [(c["first"], c["frames"]) for c in other.records[0]["clips"]] == [(2, 20), (CUT, 20)]
    assert other.records[0]["dropped"] == {"shorter than 16 frames": 2}  # the rest of each shot
    assert len(other.list_file.read_text().split()) == 2


def test_a_killed_run_lists_no_strip_it_did_not_finish(shaky_video, tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    saves = []

    def dies_on_the_second_strip(*args, **kwargs):
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = JpegImagePlugin._save
    monkeypatch.setitem(Image.SAVE, "JPEG", dies_on_the_second_strip)
    with pytest.raises(KeyboardInterrupt):
        prepare(shaky_video, tmp_path, PrepareSettings(stabilise=False, size=32), progress=False)
    folder = tmp_path / video_folder(shaky_video)
    assert sorted(p.name for p in folder.iterdir()) == ["0000.jpg"]  # no half strip, no done.json
    assert not (tmp_path / "train.txt").exists()
    monkeypatch.undo()
    result = prepare(shaky_video, tmp_path, PrepareSettings(stabilise=False, size=32), progress=False)
    assert result.reused == 0 and result.clips == 2 and (folder / DONE).is_file()


def test_a_rotated_phone_video_is_read_upright(tmp_path):
    import av

    picture = np.zeros((32, 64, 3), np.uint8)
    picture[:16, :32] = 255  # the top left quarter is white
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(-90)  # how a phone held upright marks its video
        for packet in [*stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")), *stream.encode()]:
            container.mux(packet)
    frame = next(iter_frames(path, None, crop=False))
    assert frame.shape == (64, 32, 3)
    assert np.abs(frame.astype(int) - np.rot90(picture, 3)).mean() < 10  # a quarter turn clockwise


# ---------------------------------------------------------------------------- bad input: one line naming the file

def _videos(folder: Path) -> dict:
    import av

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.mp4").write_text("not a video\n")
    with av.open(str(folder / "sound.mp4"), "w") as container:  # audio only
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
        frame.rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    write_avi(folder / "one_frame.avi", np.full((1, 64, 64, 3), 90, np.uint8))
    write_avi(folder / "flat.avi", np.full((40, 64, 64, 3), 120, np.uint8))
    return {"notes.mp4": "not a video (text)", "sound.mp4": "has no video stream",
            "one_frame.avi": "1 frame, too short for a clip", "flat.avi": "no clip could be made: "}


def _one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and not captured.out, captured
    return lines[0]


def test_each_bad_video_is_one_line_naming_it_and_nothing_is_written(tmp_path, capsys):
    for name, what in _videos(tmp_path / "in").items():
        out = tmp_path / f"out-{name}"
        line = _one_error_line(capsys, ["prepare", str(tmp_path / "in" / name), "--out", str(out), "--no-progress"])
        assert line.startswith(f"vgan: error: {tmp_path / 'in' / name}: ") and what in line, line
        assert not (out / "train.txt").exists() and not list(out.glob(f"*/{DONE}"))
    assert "too few matches" in line  # the flat video: SIFT finds nothing to match


def test_in_a_folder_bad_videos_are_skipped_in_one_line_each_and_the_rest_prepared(shaky_video, tmp_path, capsys):
    bad = _videos(tmp_path / "in")
    os.link(shaky_video, tmp_path / "in" / "shaky.avi")
    assert main(["prepare", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    skipped = captured.err.strip().splitlines()
    assert sorted(Path(line.split(": ")[1]).name for line in skipped) == sorted(bad)
    assert "clips: 2;" in captured.out and len((tmp_path / "out" / "train.txt").read_text().split()) == 2


def test_a_bad_output_folder_is_one_line_before_any_work(shaky_video, tmp_path, capsys):
    (tmp_path / "a_file").write_text("keep me\n")
    line = _one_error_line(capsys, ["prepare", str(shaky_video), "--out", str(tmp_path / "a_file")])
    assert f"{tmp_path / 'a_file'}: output path exists and is not a folder" in line
    line = _one_error_line(capsys, ["prepare", str(shaky_video), "--out", str(tmp_path / "a_file" / "sub")])
    assert f"{tmp_path / 'a_file' / 'sub'}: cannot create the output folder" in line
    assert (tmp_path / "a_file").read_text() == "keep me\n"
    line = _one_error_line(capsys, ["prepare", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")])
    assert f"{tmp_path / 'missing.mp4'}: no such video file or folder" in line
    line = _one_error_line(capsys, ["prepare", str(shaky_video), "--out", str(tmp_path / "o"), "--min-frames", "40"])
    assert "min_frames 40 is larger than frames 34" in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_without_write_permission_is_one_line(shaky_video, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        line = _one_error_line(capsys, ["prepare", str(shaky_video), "--out", str(locked)])
    finally:
        locked.chmod(0o755)
    assert f"{locked}: output folder is not writable" in line


def test_a_video_that_gives_no_clip_raises_from_the_library_too(tmp_path):
    _videos(tmp_path / "in")
    with pytest.raises(DataError, match="one_frame.avi: 1 frame"):
        prepare(tmp_path / "in" / "one_frame.avi", tmp_path / "out", progress=False)
