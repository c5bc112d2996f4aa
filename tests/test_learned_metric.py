"""The learned figures: a Fréchet distance and a class score with known values on made-up features and predictions,
a factor classifier that learns what the synthetic clips show, the shipped one as its manifest says, and FVD through
a stand-in for the I3D TorchScript file (the real one is never downloaded)."""

import json

import pytest
import torch

from vgan_lib.errors import DataError
from vgan_lib.learned_metric import (CLASSES, accuracy, class_score, factor_class, factor_clips, frechet_distance,
                                     i3d_features, load_factor_net, load_i3d, train_factor_net)
from vgan_lib.metrics import quality_report
from vgan_lib.model import build_models
from vgan_lib.pretrained import PRETRAINED_DIR, manifest, sha256_of
from vgan_lib.synthetic import SyntheticSpec, make_synthetic

# the FVD network comes as a TorchScript file, a format torch now calls deprecated
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def exactly(mean, cov, n=50, seed=0):
    """n samples (n, D) whose sample mean and (unbiased) covariance are exactly ``mean`` and ``cov``."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    white = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T
    return white @ torch.linalg.cholesky(cov).T + mean


def test_the_frechet_distance_of_a_set_to_itself_is_zero():
    x = torch.randn(300, 32, generator=torch.Generator().manual_seed(1))
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-8)


def test_the_frechet_distance_of_two_gaussians_has_its_closed_form():
    # covariances with the same eigenvectors (not the axes): the distance is |mu_a - mu_b|^2 + sum (sqrt a - sqrt b)^2
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    ea, eb = torch.tensor([4.0, 1.0, 0.25, 9.0]), torch.tensor([1.0, 1.0, 1.0, 4.0])
    mu_a, mu_b = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 2.0, 0, 0])
    a = exactly(mu_a.double(), (q * ea.double()) @ q.T)
    b = exactly(mu_b.double(), (q * eb.double()) @ q.T, seed=3)
    expected = (mu_a - mu_b).square().sum() + (ea.sqrt() - eb.sqrt()).square().sum()   # 5 + (1 + 0 + 0.25 + 1)
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected.item(), rel=1e-9)


def test_the_class_score_runs_from_one_for_alike_predictions_to_the_number_of_classes():
    assert class_score(torch.full((10, 5), 0.2)) == pytest.approx(1.0)         # every video: no idea
    assert class_score(torch.eye(5)[[0] * 10]) == pytest.approx(1.0)           # every video: surely class 0
    assert class_score(torch.eye(5).repeat(3, 1)) == pytest.approx(5.0)        # sure, and all 5 classes alike often
    assert 1 < class_score(torch.eye(5)[[0, 0, 0, 1]]) < 2                     # sure, but mostly one class


def test_a_clip_class_names_its_objects_in_any_order():
    assert CLASSES[factor_class(["box-slide", "ball-orbit"])] == "ball-orbit+box-slide"
    assert factor_class(["ball-orbit", "box-slide"]) == factor_class(["box-slide", "ball-orbit"])
    with pytest.raises(DataError, match="not a class"):
        factor_class(["ball-orbit"] * 3)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """The shipped classifier's held-out clips, made again from its manifest's spec."""
    spec = SyntheticSpec(**manifest("metric/factor-net")["data"]["held_out"])
    out = tmp_path_factory.mktemp("held_out")
    make_synthetic(out, spec, workers=2, progress=False)
    return out


def test_the_shipped_classifier_loads_without_pickled_code_and_scores_as_its_manifest_says(held_out):
    info = manifest("metric/factor-net")
    path = PRETRAINED_DIR / "metric" / info["file"]
    assert sha256_of(path) == info["sha256"] and path.stat().st_size < 1_000_000
    assert torch.load(path, weights_only=True)["format"] == "vgan_lib.factor_net"
    clips, labels = factor_clips(held_out)
    majority = torch.bincount(labels).max().item() / len(labels)
    got = accuracy(load_factor_net(), clips, labels)
    # one thread here, maybe more when it was measured: at most a clip or two on a decision boundary may differ
    assert got == pytest.approx(info["held_out_accuracy"], abs=2 / len(labels))
    assert got > 2 * majority


def test_a_short_training_run_learns_more_than_the_most_common_class(tmp_path):
    # one object a clip (6 classes: ball or box, sliding, falling or circling) and a narrow net: seconds to train
    for name, count, seed in (("train", 600, 1), ("held", 200, 2)):
        make_synthetic(tmp_path / name, SyntheticSpec(count=count, seed=seed, max_objects=1), workers=2, progress=False)
    _, acc = train_factor_net(tmp_path / "train", tmp_path / "held", epochs=5, width=8, seed=0)
    labels = factor_clips(tmp_path / "held")[1]
    majority = torch.bincount(labels).max().item() / len(labels)   # 0.255: always guessing the commonest class
    assert acc > 1.2 * majority


class StandIn(torch.nn.Module):
    """Takes the I3D file's call and returns 400 features that describe its input: frames, height, width,
    smallest and largest pixel, the flags, then the mean of each frame."""

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False):
        shape = torch.tensor(x.shape[2:], dtype=x.dtype).expand(len(x), 3)
        flags = torch.tensor([float(rescale), float(resize), float(return_features)]).expand(len(x), 3)
        stats = torch.stack([x.amin(dim=(1, 2, 3, 4)), x.amax(dim=(1, 2, 3, 4))], dim=1)
        per_frame = x.mean(dim=(1, 3, 4))
        return torch.cat([shape, stats, flags, per_frame, torch.zeros(len(x), 400 - 8 - x.shape[2])], dim=1)


@pytest.fixture
def i3d_file(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(StandIn()).save(str(path))
    return path


def test_fvd_features_are_of_16_frames_at_224_pixels_in_minus_one_to_one_without_the_networks_own_scaling(i3d_file):
    videos = torch.linspace(-1, 1, 2 * 3 * 32 * 32 * 32).reshape(2, 3, 32, 32, 32)
    f = i3d_features(load_i3d(i3d_file), videos)
    assert f.shape == (2, 400)
    assert f[0, :3].tolist() == [16, 224, 224]
    assert -1 <= f[:, 3].min() and f[:, 4].max() <= 1
    assert f[0, 5:8].tolist() == [0, 0, 1]    # rescale=False, resize=False, return_features=True
    # the first 16 frames, in order
    assert torch.allclose(f[:, 8:24], videos[:, :, :16].double().mean(dim=(1, 3, 4)), atol=1e-4)


def test_fvd_is_reported_with_an_i3d_file_and_a_wrong_file_is_named_in_one_line(tiny_cfg, synthetic_dir, i3d_file,
                                                                                 tmp_path):
    G, _ = build_models(tiny_cfg, seed=1)
    report = quality_report(G, synthetic_dir / "train.txt", n=6, seed=0, i3d=i3d_file)
    assert all("fvd" in report[k] for k in ("generated", "real", "untrained"))
    assert report["untrained"]["fvd"] > report["real"]["fvd"]   # grey videos are far from the real clips
    with pytest.raises(DataError, match=r"nowhere\.pt: no such I3D TorchScript file"):
        quality_report(G, synthetic_dir / "train.txt", n=6, i3d=tmp_path / "nowhere.pt")
    (tmp_path / "bad.pt").write_text(json.dumps({"not": "torchscript"}))
    with pytest.raises(DataError, match=r"bad\.pt: not a TorchScript file") as err:
        quality_report(G, synthetic_dir / "train.txt", n=6, i3d=tmp_path / "bad.pt")
    assert "\n" not in str(err.value)


def test_a_torchscript_network_that_refuses_the_fvd_call_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.jit.script(torch.nn.Conv3d(3, 4, 1)).save(str(path))
    with pytest.raises(DataError, match="refused the FVD call"):
        i3d_features(load_i3d(path), torch.zeros(1, 3, 16, 8, 8))


def test_the_learned_figures_put_the_untrained_generator_far_from_the_real_clips(tiny_cfg, synthetic_dir):
    G, _ = build_models(tiny_cfg, seed=1)
    report = quality_report(G, synthetic_dir / "train.txt", n=12, seed=0)
    for part in ("generated", "real", "untrained"):
        assert report[part]["factor_frechet"] >= 0 and report[part]["factor_score"] >= 1
    assert report["untrained"]["factor_frechet"] > 2 * report["real"]["factor_frechet"]
