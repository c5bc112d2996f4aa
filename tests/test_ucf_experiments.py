"""Choosing settings without the test split, loading a few classes, and the experiment script's summary."""

import pytest
import torch

from research import ucf_experiments
from research.ucf_experiments import validation_split
from vgan_lib.errors import DataError
from vgan_lib.model import VideoGANConfig
from vgan_lib.ucf.clips import load_ucf101
from vgan_lib.ucf.finetune import build_classifier, fit_classifier, train_classifier
from vgan_lib.ucf.synthetic import ActionSpec, make_actions

CFG = VideoGANConfig(frames=16, size=16, z_dim=8, width=4)
# 3 classes x 8 groups x 2 clips, small frames: split 1 tests groups 1-2, trains on 3-8
SPEC = ActionSpec(classes=3, groups=8, clips_per_group=2, seed=0, frame_size=(48, 32), min_frames=16,
                  max_frames=24)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_actions(tmp_path_factory.mktemp("actions"), SPEC, workers=1, progress=False)


@pytest.fixture(scope="module")
def data(root):
    return load_ucf101(root, CFG, split=1, windows=2, progress=False)


def _groups(videos):
    return {v.group for v in videos}


# ---------------------------------------------------------------------------- validation split

def test_validation_holds_out_whole_training_groups_in_every_class(data):
    val = validation_split(data, groups=2, seed=0)
    held, kept = _groups(val.test.videos), _groups(val.train.videos)
    assert len(held) == 2 and not held & kept
    assert held | kept == _groups(data.train.videos)
    assert not held & _groups(data.test.videos), "validation comes from training groups only"
    for g in held:  # a held-out group is held out in every class
        assert {v.label for v in val.test.videos if v.group == g} == set(range(len(data.classes)))
    assert len(val.train) + len(val.test) == len(data.train)
    assert val.test.windows == data.test.windows and val.classes == data.classes
    assert validation_split(data, groups=2, seed=0).test.videos == val.test.videos  # seeded


def test_validation_split_needs_groups_left_to_train_on(data):
    n = len(_groups(data.train.videos))
    with pytest.raises(ValueError, match="groups"):
        validation_split(data, groups=n)
    with pytest.raises(ValueError, match="groups"):
        validation_split(data, groups=0)


def test_validating_every_epoch_does_not_change_the_training_run(data):
    val = validation_split(data, groups=2, seed=0)
    states, histories = [], []
    for track in (False, True):
        r = fit_classifier(val, "scratch", cfg=CFG, epochs=2, batch_size=4, seed=3, progress=False, track_test=track)
        states.append(r.model.state_dict())
        histories.append(r.history)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert [h["loss"] for h in histories[0]] == [h["loss"] for h in histories[1]]
    assert "video_accuracy" not in histories[0][0]
    assert all(0 <= h["video_accuracy"] <= 1 and 0 <= h["clip_accuracy"] <= 1 for h in histories[1])


def test_linear_mode_stays_frozen_between_validations(data):
    from vgan_lib.model import Discriminator, init_weights

    D = init_weights(Discriminator(CFG), torch.Generator().manual_seed(0))
    model = build_classifier(3, "linear", D=D)
    before = {k: v.clone() for k, v in model.trunk.state_dict().items()}
    calls = []

    def validate(m):
        calls.append(m.training)
        return {"seen": 1}

    history = train_classifier(model, data.train, "linear", epochs=2, batch_size=4, progress=False,
                               validate=validate)
    assert calls == [False, False] and all(h["seen"] == 1 for h in history)
    assert all(torch.equal(before[k], model.trunk.state_dict()[k]) for k in before)


# ---------------------------------------------------------------------------- a few classes

def test_loading_classes_decodes_and_relabels_only_the_chosen_classes(root, tmp_path):
    cache = tmp_path / "cache"
    two = load_ucf101(root, CFG, split=1, windows=2, classes=["yoyo", "Kayaking"], cache_dir=cache, progress=False)
    assert two.classes == ["YoYo", "Kayaking"]  # the order given, the data set's spelling
    assert set(two.train.labels) == set(two.test.labels) == {0, 1}
    for v in two.train.videos + two.test.videos:
        assert v.path.parent.name == two.classes[v.label]
    per_class = 8 * 2  # groups x clips
    assert len(two.train) + len(two.test) == 2 * per_class
    assert len(list(two.cache.folder.glob("*.npy"))) == 2 * per_class  # the third class was never decoded
    full = load_ucf101(root, CFG, split=1, windows=2, cache_dir=cache, progress=False)
    assert len(two.test) == sum(1 for y in full.test.labels if full.classes[y] in two.classes)


def test_loading_classes_names_a_missing_class(root):
    with pytest.raises(DataError, match="Juggling"):
        load_ucf101(root, CFG, classes=["YoYo", "Juggling"], progress=False)
    with pytest.raises(ValueError, match="2 different"):
        load_ucf101(root, CFG, classes=["YoYo", "yoyo"], progress=False)


# ---------------------------------------------------------------------------- the script

def test_the_summary_gives_mean_and_spread_over_seeds_per_task_fraction_and_mode():
    rows = [{"task": "binary", "fraction": 1.0, "mode": m, "seed": s, "epochs": 2, "train_videos": 10,
             "test_videos": 4, "video_accuracy": v, "clip_accuracy": v / 2}
            for m, vs in (("finetune", (0.5, 1.0, 0.75)), ("scratch", (0.25, 0.25, 0.25))) for s, v in enumerate(vs)]
    summary = ucf_experiments.summarize(rows)
    assert [s["mode"] for s in summary] == ["scratch", "finetune"]  # the paper's order: scratch, linear, finetune
    ft = summary[1]["video_accuracy"]
    assert ft["mean"] == pytest.approx(0.75) and ft["std"] == pytest.approx(0.25)  # ddof=1
    assert (ft["min"], ft["max"], summary[1]["runs"]) == (0.5, 1.0, 3)
    assert summary[0]["video_accuracy"]["std"] == 0.0
    assert "±" in ucf_experiments.format_summary(summary)
