"""Is the discriminator a feature learner? Fine-tune it to recognise actions.

The paper's Table 3 takes D from a trained VideoGAN, drops its last layer, adds
Dropout(0.5) and a K-way convolution (``model.ActionClassifier``), and trains on
UCF-101 in three ways, each a row of the table:

* ``finetune``: start from D's weights and train every layer;
* ``linear``:   freeze D's trunk and train only the new head: logistic regression
  on D's features. The trunk stays in eval mode, so its BatchNorm keeps the
  statistics it learned on the GAN's data instead of drifting to this data;
* ``scratch``:  the same network with random weights (``model.init_weights``),
  trained every layer: what the task gives without the GAN's pre-training.

All three get the same budget: the same epochs over the same videos, the same
optimiser (Adam, lr 2e-4, beta1 0.5, the original's) and cross-entropy. Any gap
between ``scratch`` and the other two is then what D learned from unlabelled video.

Testing follows the data set: each test video gives several windows
(``ucf101.TestVideos``). *Clip accuracy* scores every window on its own; *video
accuracy* averages the softmax over a video's windows first, as the original
evaluation does. ``Evaluation`` also holds per-class accuracy and the confusion
matrix (rows: true class, columns: predicted).

``fit_classifier(data, mode, checkpoint)`` does one run; ``run_modes`` repeats it
over modes and seeds for the table, and ``label_fraction`` trains on a seeded,
class-stratified share of the training videos for a label-efficiency curve.

``load_classes(root, cfg, ["YoYo", "Kayaking"])`` loads a few classes of a data set
(decoding only those), as the binary YoYo-vs-Kayaking task an earlier PyTorch
re-implementation ("the seed") ran on UCF-101.

Choosing epochs or a learning rate must never look at the test split.
``validation_split(data, groups)`` holds out some *training* groups as a validation
set (whole groups, as the official split does), and ``validate=`` scores the model
on it after every epoch, without changing the training run.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import FORMAT as GAN_FORMAT
from .checkpoint import atomic_save, load_checkpoint, load_models, torch_load_checked
from .device import pick_device
from .errors import CheckpointError, DataError
from .model import ActionClassifier, VideoGANConfig, init_weights
from .ucf101 import (SplitIndex, TestVideos, TrainClips, UCF101Data, Video, index_ucf101, load_split,
                     load_ucf101)

__all__ = [
    "MODES",
    "FORMAT",
    "build_classifier",
    "train_classifier",
    "Evaluation",
    "evaluate",
    "save_classifier",
    "load_classifier",
    "FinetuneResult",
    "fit_classifier",
    "run_modes",
    "format_results",
    "validation_split",
    "load_classes",
]

MODES = ("finetune", "linear", "scratch")
FORMAT = "vgan_lib.classifier"
FORMAT_VERSION = 1
PathLike = Union[str, os.PathLike]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


# ---------------------------------------------------------------------------- the network

def build_classifier(num_classes: int, mode: str = "finetune", checkpoint: Optional[PathLike] = None,
                     D: Optional[nn.Module] = None, cfg: Optional[VideoGANConfig] = None,
                     seed: int = 0) -> ActionClassifier:
    """An ``ActionClassifier`` for ``mode``: (B, 3, T, S, S) -> logits (B, K).

    finetune / linear: D's trunk (from ``D`` or the GAN ``checkpoint``) and a new head.
    scratch:           freshly initialised everywhere. A checkpoint or D given here
                       only supplies the config, so the network is the same one;
                       its weights are ignored. Without either, ``cfg`` is used.
    The new layers are initialised as the original (N(0, 0.01)), seeded by ``seed``.
    """
    _check_mode(mode)
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    g = torch.Generator().manual_seed(seed)
    if mode == "scratch":
        if D is not None:
            cfg = D.cfg
        elif checkpoint is not None:
            cfg = load_checkpoint(checkpoint)["model_config"]
        if cfg is None:
            raise ValueError("mode 'scratch' needs a model config: pass cfg, D or a checkpoint")
        return init_weights(ActionClassifier(cfg, num_classes), g)
    if D is None:
        if checkpoint is None:
            raise ValueError(f"mode {mode!r} starts from a trained discriminator: pass checkpoint or D")
        _, D = load_models(checkpoint)
    # a copy: training the classifier must not change the GAN's own D
    model = ActionClassifier(D.cfg, num_classes, trunk=copy.deepcopy(D.trunk).cpu())
    init_weights(model.head, g)
    return model


def _prepare_for_training(model: ActionClassifier, mode: str) -> List[nn.Parameter]:
    """Set train/eval modes and ``requires_grad`` for ``mode``; return the parameters to optimise."""
    model.train()
    frozen = mode == "linear"
    for p in model.trunk.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        model.trunk.eval()  # BatchNorm uses (and keeps) the GAN's running statistics
    return [p for p in model.parameters() if p.requires_grad]


def _logits(model: ActionClassifier, x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "linear":
        with torch.no_grad():  # a frozen trunk needs no graph: saves memory and the backward pass
            features = model.trunk(x)
        return model.head(model.dropout(features)).flatten(1)
    return model(x)


def _check_shapes(model: ActionClassifier, data: UCF101Data) -> None:
    cfg = model.cfg
    if (data.frames, data.size) != (cfg.frames, cfg.size):
        raise DataError(f"the data's clips have {data.frames} frames of {data.size}x{data.size} but the "
                        f"model expects {cfg.frames} of {cfg.size}x{cfg.size}")


# ---------------------------------------------------------------------------- training

def train_classifier(model: ActionClassifier, train: TrainClips, mode: str = "finetune", epochs: int = 24,
                     batch_size: int = 10, lr: float = 2e-4, beta1: float = 0.5, seed: int = 0,
                     device: Union[str, torch.device] = "cpu", workers: int = 0, progress: bool = True,
                     validate: Optional[Callable[[ActionClassifier], dict]] = None) -> List[dict]:
    """Train ``model`` in place for ``epochs`` passes over ``train``; one history dict per epoch.

    Each epoch: new random windows (``train.set_epoch``), a shuffled order from a
    generator seeded by ``seed``, Adam steps on the cross-entropy. ``seed`` also seeds
    torch's global RNG (dropout), so a CPU run repeats exactly.

    validate: called with the model (in eval mode) after every epoch; the numbers it
              returns join that epoch's history dict. Torch's RNG state is restored
              afterwards, so the training run is the same with or without it.
    """
    _check_mode(mode)
    if len(train) < 2:
        raise DataError(f"need at least 2 training videos, got {len(train)}")
    device = pick_device(str(device)) if not isinstance(device, torch.device) else device
    torch.manual_seed(seed)
    model.to(device)
    params = _prepare_for_training(model, mode)
    opt = torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))
    # BatchNorm cannot train on a batch of one clip: drop a last batch of one
    loader = torch.utils.data.DataLoader(
        train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
        num_workers=workers, drop_last=len(train) % batch_size == 1, pin_memory=device.type == "cuda")
    history = []
    bar = tqdm(total=epochs * len(loader), desc=f"{mode}", unit="batch", disable=not progress, dynamic_ncols=True)
    try:
        for epoch in range(epochs):
            train.set_epoch(epoch)
            t0, total, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
            for clips, labels in loader:
                clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                logits = _logits(model, clips, mode)
                loss = F.cross_entropy(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                n = labels.numel()
                total += n
                loss_sum += loss.item() * n
                correct += (logits.argmax(1) == labels).sum().item()
                bar.update(1)
            rec = {"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": correct / total,
                   "seconds": time.perf_counter() - t0}
            if validate is not None:
                rng = torch.get_rng_state()   # a DataLoader draws from it: keep training's stream intact
                model.eval()
                rec.update(validate(model))
                torch.set_rng_state(rng)
                _prepare_for_training(model, mode)
            history.append(rec)
            bar.set_postfix(epoch=epoch + 1, loss=f"{rec['loss']:.3f}", acc=f"{rec['train_accuracy']:.2f}")
    finally:
        bar.close()
    model.eval()
    return history


# ---------------------------------------------------------------------------- testing

@dataclass
class Evaluation:
    """Test results. ``confusion[i, j]``: videos of class i predicted as j (video level)."""

    classes: List[str]
    clip_accuracy: float
    video_accuracy: float
    per_class_accuracy: List[float]   # NaN for a class without test videos
    confusion: np.ndarray             # (K, K) int
    num_videos: int
    num_clips: int

    def to_dict(self) -> dict:
        """Plain Python values (JSON-ready; a class without test videos gives None)."""
        return {
            "classes": list(self.classes),
            "clip_accuracy": self.clip_accuracy,
            "video_accuracy": self.video_accuracy,
            "per_class_accuracy": [None if math.isnan(a) else a for a in self.per_class_accuracy],
            "confusion": self.confusion.tolist(),
            "num_videos": self.num_videos,
            "num_clips": self.num_clips,
        }

    def format(self, max_matrix: int = 20) -> str:
        """A text report: accuracies, per-class accuracy, and the confusion matrix (or its
        largest off-diagonal cells when there are more than ``max_matrix`` classes)."""
        k = len(self.classes)
        lines = [f"video accuracy {self.video_accuracy:.3f} ({self.num_videos} videos), "
                 f"clip accuracy {self.clip_accuracy:.3f} ({self.num_clips} clips), chance {1 / k:.3f}",
                 "per-class (video level):"]
        width = max(len(c) for c in self.classes)
        for name, acc, row in zip(self.classes, self.per_class_accuracy, self.confusion):
            shown = "  n/a" if math.isnan(acc) else f"{acc:.3f}"
            lines.append(f"  {name:<{width}}  {shown}  ({int(row.sum())} videos)")
        if k <= max_matrix:
            lines.append("confusion (rows: true, columns: predicted, in class order):")
            cell = max(3, len(str(int(self.confusion.max(initial=0)))) + 1)
            lines.append(" " * (width + 2) + "".join(f"{j + 1:>{cell}}" for j in range(k)))
            for i, name in enumerate(self.classes):
                lines.append(f"  {name:<{width}}" + "".join(f"{int(v):>{cell}}" for v in self.confusion[i]))
        else:
            off = [(int(self.confusion[i, j]), i, j) for i in range(k) for j in range(k) if i != j
                   and self.confusion[i, j]]
            lines.append("most frequent confusions (true -> predicted: videos):")
            lines += [f"  {self.classes[i]} -> {self.classes[j]}: {n}" for n, i, j in sorted(off, reverse=True)[:10]]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


@torch.no_grad()
def evaluate(model: ActionClassifier, test: TestVideos, classes: Optional[Sequence[str]] = None,
             batch_size: int = 4, device: Union[str, torch.device] = "cpu", workers: int = 0,
             progress: bool = False) -> Evaluation:
    """Clip- and video-level accuracy, per-class accuracy and confusion of ``model`` on ``test``.

    Each item of ``test`` is (W windows, label); the W windows go through the model
    as one batch of clips, (B*W, 3, T, S, S) -> logits (B, W, K).
    """
    device = pick_device(str(device)) if not isinstance(device, torch.device) else device
    k = model.num_classes
    classes = list(classes) if classes is not None else [str(i + 1) for i in range(k)]
    if len(classes) != k:
        raise ValueError(f"{len(classes)} class names for a {k}-way classifier")
    model.to(device).eval()
    loader = torch.utils.data.DataLoader(test, batch_size=batch_size, shuffle=False, num_workers=workers)
    confusion = np.zeros((k, k), dtype=np.int64)
    clip_correct = clips_seen = 0
    for clips, labels in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, dynamic_ncols=True):
        b, w = clips.shape[:2]
        logits = model(clips.flatten(0, 1).to(device)).view(b, w, k).float().cpu()
        clip_correct += (logits.argmax(2) == labels[:, None]).sum().item()
        clips_seen += b * w
        video_pred = logits.softmax(2).mean(1).argmax(1)   # average the windows' probabilities
        for t, p in zip(labels.tolist(), video_pred.tolist()):
            confusion[t, p] += 1
    per_video = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = (np.diag(confusion) / per_video).astype(float).tolist()
    n = int(per_video.sum())
    return Evaluation(classes, clip_correct / max(clips_seen, 1), float(np.trace(confusion)) / max(n, 1),
                      per_class, confusion, n, clips_seen)


# ---------------------------------------------------------------------------- files

def save_classifier(path: PathLike, model: ActionClassifier, classes: Sequence[str], mode: str,
                    settings: Optional[dict] = None, extra: Optional[dict] = None) -> Path:
    """Write the classifier (weights, config, class names, mode, data settings) atomically.

    ``settings`` (e.g. ``UCF101Data.settings``) records the preprocessing, so
    ``vgan evaluate`` can repeat it. The file loads with ``weights_only=True``.
    """
    from . import __version__

    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "torch_version": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
        "model_config": model.cfg.to_dict(),
        "num_classes": model.num_classes,
        "classes": list(classes),
        "mode": mode,
        "settings": dict(settings or {}),
        "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    return atomic_save(state, path)


def load_classifier(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[ActionClassifier, dict]:
    """(classifier in eval mode, info) from a ``save_classifier`` file.

    info: classes, mode, settings, extra, model_config. Anything else (a GAN
    checkpoint, a damaged file, some other torch file) is a one-line CheckpointError.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such classifier file")
    state = torch_load_checked(path, "vgan_lib classifier")
    if isinstance(state, dict) and state.get("format") == GAN_FORMAT:
        raise CheckpointError(f"{path}: is a GAN checkpoint, not a classifier (make one with 'vgan finetune')")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vgan_lib classifier (no '{FORMAT}' marker)")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: classifier format {state['format_version']} is newer than this vgan_lib "
                              f"reads ({FORMAT_VERSION})")
    try:
        cfg = VideoGANConfig.from_dict(state["model_config"])
        model = ActionClassifier(cfg, int(state["num_classes"]))
        model.load_state_dict(state["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: classifier file is damaged or does not fit ({reason})") from None
    info = {"classes": list(state.get("classes", [])), "mode": state.get("mode"), "settings": state.get("settings", {}),
            "extra": state.get("extra", {}), "model_config": cfg}
    return model.to(device).eval(), info


# ---------------------------------------------------------------------------- experiments

@dataclass
class FinetuneResult:
    """One run of ``fit_classifier``."""

    model: ActionClassifier
    mode: str
    seed: int
    label_fraction: float
    epochs: int
    train_videos: int
    history: List[dict]
    evaluation: Evaluation
    seconds: float

    def to_dict(self) -> dict:
        """The numbers of the run, without the model (one row of an experiment table)."""
        return {"mode": self.mode, "seed": self.seed, "label_fraction": self.label_fraction, "epochs": self.epochs,
                "train_videos": self.train_videos, "test_videos": self.evaluation.num_videos,
                "clip_accuracy": self.evaluation.clip_accuracy, "video_accuracy": self.evaluation.video_accuracy,
                "final_loss": self.history[-1]["loss"] if self.history else None, "seconds": self.seconds}


def fit_classifier(data: UCF101Data, mode: str = "finetune", checkpoint: Optional[PathLike] = None,
                   D: Optional[nn.Module] = None, cfg: Optional[VideoGANConfig] = None, *, epochs: int = 24,
                   batch_size: int = 10, lr: float = 2e-4, beta1: float = 0.5, label_fraction: float = 1.0,
                   seed: int = 0, device: Union[str, torch.device] = "cpu", workers: int = 0,
                   progress: bool = True, track_test: bool = False) -> FinetuneResult:
    """Build a classifier for ``mode``, train it on ``data.train``, test it on ``data.test``.

    ``label_fraction`` < 1 trains on that seeded, class-stratified share of the
    training videos (the test set stays whole). Defaults are the original recipe's
    (24 epochs at batch 10 is the seed's YoYo-vs-Kayaking run).
    ``track_test`` also scores ``data.test`` after every epoch (history keys
    ``clip_accuracy``, ``video_accuracy``): for a ``validation_split``, whose test
    set is held-out training groups; never choose settings this way on a real test set.
    """
    model = build_classifier(len(data.classes), mode, checkpoint=checkpoint, D=D, cfg=cfg, seed=seed)
    _check_shapes(model, data)
    train = data.train.label_fraction(label_fraction, seed)
    validate = None
    if track_test:
        def validate(m):
            ev = evaluate(m, data.test, data.classes, device=device, workers=workers)
            return {"clip_accuracy": ev.clip_accuracy, "video_accuracy": ev.video_accuracy}
    t0 = time.perf_counter()
    history = train_classifier(model, train, mode, epochs, batch_size, lr, beta1, seed, device, workers, progress,
                               validate)
    evaluation = evaluate(model, data.test, data.classes, device=device, workers=workers)
    return FinetuneResult(model, mode, seed, label_fraction, epochs, len(train), history, evaluation,
                          time.perf_counter() - t0)


def run_modes(data: Union[UCF101Data, PathLike], checkpoint: Optional[PathLike] = None,
              modes: Sequence[str] = ("scratch", "linear", "finetune"), seeds: Sequence[int] = (0, 1, 2),
              epochs: int = 24, label_fraction: Union[float, Sequence[float]] = 1.0,
              cfg: Optional[VideoGANConfig] = None, split: int = 1, progress: bool = True, **kwargs) -> List[dict]:
    """Every mode x seed (x label fraction) with the same budget; one result dict per run.

    data: a ``UCF101Data``, or a data folder (loaded for the checkpoint's config, or
          ``cfg``, with ``split``). kwargs go to ``fit_classifier`` (batch_size, lr,
          device, ...). The GAN checkpoint is read once.
    """
    for mode in modes:
        _check_mode(mode)
    D = load_models(checkpoint)[1] if checkpoint is not None else None
    model_cfg = D.cfg if D is not None else cfg
    if not isinstance(data, UCF101Data):
        if model_cfg is None:
            raise ValueError("loading data needs a model config: pass a checkpoint or cfg")
        data = load_ucf101(data, model_cfg, split, progress=progress)
    fractions = [label_fraction] if isinstance(label_fraction, (int, float)) else list(label_fraction)
    results = []
    for fraction in fractions:
        for mode in modes:
            for seed in seeds:
                r = fit_classifier(data, mode, D=D, cfg=model_cfg, epochs=epochs, label_fraction=fraction,
                                   seed=seed, progress=progress, **kwargs)
                results.append(r.to_dict())
    return results


def format_results(results: Sequence[dict]) -> str:
    """A table of mean +- std video and clip accuracy per (label fraction, mode) over seeds."""
    groups: Dict[tuple, List[dict]] = {}
    for r in results:
        groups.setdefault((r["label_fraction"], r["mode"]), []).append(r)
    lines = [f"{'labels':>6}  {'mode':<8}  {'runs':>4}  {'video acc':>15}  {'clip acc':>15}"]
    for (fraction, mode), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], MODES.index(kv[0][1]))):
        v = np.array([r["video_accuracy"] for r in rs])
        c = np.array([r["clip_accuracy"] for r in rs])
        lines.append(f"{fraction:>6.0%}  {mode:<8}  {len(rs):>4}  {v.mean():.3f} +- {v.std():.3f}  "
                     f"{c.mean():.3f} +- {c.std():.3f}")
    return "\n".join(lines)


def validation_split(data: UCF101Data, groups: int = 4, seed: int = 0, windows: Optional[int] = None) -> UCF101Data:
    """Hold out ``groups`` whole training groups as validation: the data to choose settings on.

    Returns a ``UCF101Data`` whose ``train`` is the other training groups and whose
    ``test`` is the held-out ones (``windows`` per video, default as ``data.test``),
    so ``fit_classifier`` and ``run_modes`` work on it unchanged. The groups are drawn
    with ``seed`` among the training groups and held out in every class, as the
    official split holds out groups; ``data.test`` is never touched.
    """
    train = data.train
    names = sorted({v.group for v in train.videos})
    if not 1 <= groups < len(names):
        raise ValueError(f"groups must be in 1..{len(names) - 1} (the training set has {len(names)} groups), "
                         f"got {groups}")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {names[i] for i in order[:groups]}
    keep = [i for i, v in enumerate(train.videos) if v.group not in held]
    out = [i for i, v in enumerate(train.videos) if v.group in held]
    val = TestVideos([train.videos[i] for i in out], [train.files[i] for i in out], [train.lengths[i] for i in out],
                     train.frames, data.test.windows if windows is None else windows)
    index = SplitIndex(list(data.classes), [train.videos[i] for i in keep], list(val.videos), data.index.split,
                       "validation")
    return UCF101Data(list(data.classes), train.subset(keep), val, index, data.cache, data.frames, data.size, [])


def load_classes(root: PathLike, cfg: VideoGANConfig, classes: Optional[Sequence[str]] = None, split: int = 1, *,
                 stride: int = 1, fps: Optional[float] = None, windows: int = 5,
                 cache_dir: Optional[PathLike] = None, on_error: str = "raise", seed: int = 0,
                 progress: bool = True, workers: int = 0) -> UCF101Data:
    """``load_ucf101`` restricted to ``classes`` (names as in classInd.txt, any letter case).

    Only the chosen classes' videos are decoded, and they are relabelled 0..K-1 in
    the order given: ``load_classes(ucf_root, cfg, ["YoYo", "Kayaking"])`` is the seed's
    binary task on real UCF-101. ``classes=None`` is plain ``load_ucf101``. The
    other arguments are those of ``load_ucf101``; the split follows the official lists.
    """
    if classes is None:
        return load_ucf101(root, cfg, split, stride=stride, fps=fps, windows=windows, cache_dir=cache_dir,
                           on_error=on_error, seed=seed, progress=progress, workers=workers)
    index = index_ucf101(root, split, on_error)
    lookup = {name.lower(): i for i, name in enumerate(index.classes)}
    missing = [c for c in classes if c.lower() not in lookup]
    if missing:
        raise DataError(f"{root}: no class {', '.join(map(repr, missing))} in this data set "
                        f"({len(index.classes)} classes: {', '.join(index.classes[:5])}, ...)")
    old = [lookup[c.lower()] for c in classes]
    if len(set(old)) != len(old) or len(old) < 2:
        raise ValueError(f"classes must name at least 2 different classes, got {list(classes)}")
    new = {o: i for i, o in enumerate(old)}
    names = [index.classes[o] for o in old]

    def keep(videos):
        return [Video(v.path, new[v.label], v.group) for v in videos if v.label in new]

    index = SplitIndex(names, keep(index.train), keep(index.test), split, index.layout, list(index.skipped))
    return load_split(index, root, cfg, stride=stride, fps=fps, windows=windows, cache_dir=cache_dir,
                      on_error=on_error, seed=seed, progress=progress, workers=workers)
