"""Fine-tuning D as an action classifier: the three modes, evaluation, files, the CLI, and a run that learns."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from research.ucf_experiments import format_results, run_modes
from vgan_lib.checkpoint import save_weights
from vgan_lib.errors import CheckpointError
from vgan_lib.model import VideoGANConfig, build_models
from vgan_lib.ucf.clips import load_ucf101
from vgan_lib.ucf.finetune import build_classifier, evaluate, fit_classifier, load_classifier, save_classifier, \
    train_classifier
from vgan_lib.ucf.synthetic import ActionSpec, make_actions

CFG = VideoGANConfig(frames=16, size=16, z_dim=8, width=4)
# YoYo vs Kayaking, 25 groups of 4 at a small frame size: split 1 tests groups 1-7
# (56 videos) and trains on groups 8-25 (144)
SPEC = ActionSpec(classes=2, groups=25, clips_per_group=4, seed=0, frame_size=(64, 48))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = make_actions(tmp_path_factory.mktemp("actions"), SPEC, workers=1, progress=False)
    return load_ucf101(root, CFG, split=1, windows=3, progress=False)


@pytest.fixture(scope="module")
def gan_file(tmp_path_factory):
    G, D = build_models(CFG, seed=1)
    with torch.no_grad():  # give D's BatchNorm non-trivial running statistics
        D.train()
        D(torch.randn(4, *CFG.video_shape))
    return save_weights(tmp_path_factory.mktemp("gan") / "gan.pt", G, D)


def _gan_D(path):
    from vgan_lib.checkpoint import load_models
    return load_models(path)[1]


def _trunk_state(model):
    return {k: v.clone() for k, v in model.trunk.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- building

def test_finetune_and_linear_start_from_the_gan_trunk_with_a_new_k_way_head(gan_file):
    D = _gan_D(gan_file)
    for mode in ("finetune", "linear"):
        model = build_classifier(5, mode, checkpoint=gan_file)
        assert _same(_trunk_state(model), D.trunk.state_dict())
        assert model.head.out_channels == 5
        assert model(torch.zeros(2, *CFG.video_shape)).shape == (2, 5)


def test_scratch_ignores_the_checkpoint_weights(gan_file):
    from_ckpt = build_classifier(2, "scratch", checkpoint=gan_file, seed=3)
    from_cfg = build_classifier(2, "scratch", cfg=CFG, seed=3)
    assert _same(from_ckpt.state_dict(), from_cfg.state_dict())
    assert not _same(_trunk_state(from_ckpt), _gan_D(gan_file).trunk.state_dict())


def test_modes_that_start_from_d_need_a_checkpoint():
    with pytest.raises(ValueError, match="checkpoint"):
        build_classifier(2, "finetune", cfg=CFG)
    with pytest.raises(ValueError, match="mode"):
        build_classifier(2, "frozen", cfg=CFG)


def test_training_the_classifier_leaves_the_gans_d_alone(gan_file, data):
    D = _gan_D(gan_file)
    before = _trunk_state(D)
    model = build_classifier(2, "finetune", D=D)
    train_classifier(model, data.train.subset(range(10)), "finetune", epochs=1, progress=False)
    assert _same(before, D.trunk.state_dict())


# ---------------------------------------------------------------------------- the modes

def test_a_finetune_step_changes_the_trunk(gan_file, data):
    model = build_classifier(2, "finetune", checkpoint=gan_file)
    before = _trunk_state(model)
    train_classifier(model, data.train.subset(range(10)), "finetune", epochs=1, progress=False)
    after = model.trunk.state_dict()
    assert not torch.equal(before["0.weight"], after["0.weight"]), "first conv should have learned"
    bn = [k for k in before if k.endswith("running_mean")]
    assert any(not torch.equal(before[k], after[k]) for k in bn)


def test_linear_mode_trains_only_the_head_and_keeps_batchnorm_statistics(gan_file, data):
    model = build_classifier(2, "linear", checkpoint=gan_file)
    before, head = _trunk_state(model), model.head.weight.clone()
    train_classifier(model, data.train.subset(range(10)), "linear", epochs=1, progress=False)
    assert _same(before, model.trunk.state_dict()), "weights and BatchNorm running statistics must not move"
    assert not torch.equal(head, model.head.weight)


def test_training_repeats_exactly_with_the_same_seed(data):
    runs = []
    for _ in range(2):
        model = build_classifier(2, "scratch", cfg=CFG, seed=4)
        history = train_classifier(model, data.train.subset(range(12)), "scratch", epochs=2, batch_size=5,
                                   seed=4, progress=False)
        runs.append((model.state_dict(), [h["loss"] for h in history]))
    assert _same(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


def test_label_fraction_trains_on_a_class_stratified_share(data):
    result = fit_classifier(data, "scratch", cfg=CFG, epochs=1, label_fraction=0.25, seed=2, progress=False)
    assert result.train_videos == 36  # a quarter of 72 per class
    assert result.evaluation.num_videos == len(data.test)


# ---------------------------------------------------------------------------- evaluation

class _AlwaysFirstWindowSays(nn.Module):
    """A stub classifier: class 0 on a video's first window, class 1 on the others."""

    num_classes = 2

    def forward(self, x):
        n = x.shape[0]
        logits = torch.zeros(n, 2)
        first = torch.arange(n) % 3 == 0  # 3 windows per video in the fixture
        logits[first, 0] = 1.0
        logits[~first, 1] = 1.0
        return logits


def test_evaluation_reports_clip_and_video_accuracy_per_class_and_confusion(data):
    ev = evaluate(_AlwaysFirstWindowSays(), data.test, data.classes)
    labels = np.array(data.test.labels)
    n0, n1 = int((labels == 0).sum()), int((labels == 1).sum())
    # per video: windows vote 1/3 for class 0, 2/3 for class 1 -> the video answer is class 1
    assert ev.confusion.tolist() == [[0, n0], [0, n1]]
    assert ev.video_accuracy == pytest.approx(n1 / (n0 + n1))
    assert ev.per_class_accuracy == [0.0, 1.0]
    assert ev.clip_accuracy == pytest.approx((n0 * 1 + n1 * 2) / (3 * (n0 + n1)))
    assert ev.num_clips == 3 * ev.num_videos
    text = ev.format()
    assert "video accuracy" in text and "Kayaking" in text and "confusion" in text
    json.dumps(ev.to_dict())


# ---------------------------------------------------------------------------- files

def test_save_and_load_round_trip(tmp_path, data, gan_file):
    model = build_classifier(2, "finetune", checkpoint=gan_file, seed=1).eval()
    path = save_classifier(tmp_path / "clf.pt", model, data.classes, "finetune", data.settings, extra={"note": 1})
    loaded, info = load_classifier(path)
    x = torch.randn(3, *CFG.video_shape)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert info["classes"] == data.classes and info["mode"] == "finetune"
    assert info["settings"] == data.settings and info["extra"] == {"note": 1}
    torch.load(path, weights_only=True)  # plain tensors and Python values only


@pytest.mark.parametrize("kind", ["gan", "garbage", "missing", "other"])
def test_a_file_that_is_not_a_classifier_is_a_one_line_error(tmp_path, gan_file, kind):
    path = {"gan": gan_file, "garbage": tmp_path / "junk.pt", "missing": tmp_path / "nope.pt",
            "other": tmp_path / "other.pt"}[kind]
    if kind == "garbage":
        path.write_bytes(b"not a torch file")
    if kind == "other":
        torch.save({"weights": {}}, path)
    with pytest.raises(CheckpointError) as e:
        load_classifier(path)
    message = str(e.value)
    assert str(path) in message and "\n" not in message
    if kind == "gan":
        assert "GAN checkpoint, not a classifier" in message


# ---------------------------------------------------------------------------- experiments and CLI

def test_run_modes_gives_one_row_per_mode_and_seed(data, gan_file):
    rows = run_modes(data, gan_file, seeds=(0,), epochs=1, progress=False, batch_size=16)
    assert [r["mode"] for r in rows] == ["scratch", "linear", "finetune"]
    assert all(0 <= r["video_accuracy"] <= 1 and r["train_videos"] == len(data.train) for r in rows)
    table = format_results(rows)
    assert "scratch" in table and "finetune" in table


def test_cli_finetune_then_evaluate(tmp_path, data, gan_file, capsys):
    from vgan_lib.cli import main

    root = data.index.train[0].path.parents[2]
    out = tmp_path / "clf.pt"
    common = ["--data", str(root), "--no-progress", "--device", "cpu"]
    assert main(["finetune", "--checkpoint", str(gan_file), "--mode", "linear", "--epochs", "1", "--windows", "2",
                 "--out", str(out), *common]) == 0
    assert "video accuracy" in capsys.readouterr().out
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["mode"] == "linear" and summary["windows"] == 2
    assert main(["evaluate", "--classifier", str(out), "--json", str(tmp_path / "ev.json"), *common]) == 0
    printed = capsys.readouterr().out
    assert "confusion" in printed and "(mode linear)" in printed
    assert json.loads((tmp_path / "ev.json").read_text())["num_clips"] == 2 * len(data.test)
    assert main(["evaluate", "--classifier", str(gan_file), *common]) == 2
    assert "not a classifier" in capsys.readouterr().err
    assert main(["finetune", "--mode", "finetune", *common]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_a_tiny_classifier_learns_yoyo_vs_kayaking_well_above_chance(data):
    # chance is 0.5 on 56 test videos from groups never seen in training, where a
    # still frame is the same in both classes: only learning the motion scores
    result = fit_classifier(data, "scratch", cfg=CFG, epochs=30, batch_size=10, seed=0, progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.evaluation.video_accuracy >= 0.68, result.evaluation.format()
