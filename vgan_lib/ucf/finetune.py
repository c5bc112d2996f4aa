"""Is the discriminator a feature learner? Fine-tune it to recognise actions (the paper's Table 3): as
``finetune`` (every layer), ``linear`` (D's trunk frozen) or ``scratch`` (random weights), at the same budget."""
# Equal budgets make a gap between scratch and the others what D learned from unlabelled video.

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checkpoint import header, atomic_save, load_checkpoint, load_models, read_file
from ..device import pick_device
from ..errors import CheckpointError, DataError, one_line
from ..model import ActionClassifier, init_weights
from ..options import check_fields, option
from ..viz import format_table
from .clips import TestVideos, TrainClips, UCF101Data

MODES = ("finetune", "linear", "scratch")
FORMAT = "vgan_lib.classifier"


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run; the defaults are the original recipe's."""

    mode: str = option("finetune", "finetune, linear (frozen trunk) or scratch (random weights)", choices=MODES)
    epochs: int = option(24, "passes over the training videos", at_least=1)
    batch_size: int = option(10, "training videos per batch", at_least=1)
    lr: float = option(2e-4, "Adam learning rate", above=0)
    beta1: float = option(0.5, "Adam beta1", at_least=0, below=1)
    label_fraction: float = option(1.0, "train on this class-stratified share of the videos, in (0, 1]", above=0)
    seed: int = option(0, "seed for the head, windows, order and dropout", at_least=0)

    def __post_init__(self):
        check_fields(self)
        if self.label_fraction > 1:
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")


def build_classifier(num_classes: int, mode="finetune", checkpoint=None, D=None, cfg=None, seed=0) -> ActionClassifier:
    """An ``ActionClassifier`` for ``mode``, (B, 3, T, S, S) -> logits (B, K): D's trunk and a new head."""
    # scratch: D, a checkpoint or cfg gives only the network's shape
    FinetuneConfig(mode=mode)
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    g = torch.Generator().manual_seed(seed)
    if mode == "scratch":
        cfg = D.cfg if D is not None else load_checkpoint(checkpoint)["model_config"] if checkpoint else cfg
        if cfg is None:
            raise ValueError("mode 'scratch' needs a model config: pass cfg, D or a checkpoint")
        return init_weights(ActionClassifier(cfg, num_classes), g)
    if D is None and checkpoint is None:
        raise ValueError(f"mode {mode!r} starts from a trained discriminator: pass checkpoint or D")
    D = D if D is not None else load_models(checkpoint)[1]
    # a copy: training the classifier must not change the GAN's own D
    model = ActionClassifier(D.cfg, num_classes, trunk=copy.deepcopy(D.trunk).cpu())
    init_weights(model.head, g)
    return model


def _prepare_for_training(model: ActionClassifier, mode: str) -> list:
    model.train()
    model.trunk.requires_grad_(mode != "linear")
    if mode == "linear":
        model.trunk.eval()  # BatchNorm uses (and keeps) the GAN's running statistics
    return [p for p in model.parameters() if p.requires_grad]


def train_classifier(model: ActionClassifier, train: TrainClips, mode="finetune", *, device="cpu", workers=0,
                     progress=True, validate=None, **settings) -> list[dict]:
    """Train ``model`` in place (``settings``: ``FinetuneConfig``'s); one history dict per epoch."""
    # validate(model) adds its numbers to each epoch's dict without changing the run
    # the seed also seeds torch's RNG (dropout): a CPU run repeats exactly
    c, device = FinetuneConfig(mode=mode, **settings), pick_device(str(device))
    if len(train) < 2:
        raise DataError(f"need at least 2 training videos, got {len(train)}")
    torch.manual_seed(c.seed)
    model.to(device)
    opt = torch.optim.Adam(_prepare_for_training(model, mode), lr=c.lr, betas=(c.beta1, 0.999))
    # BatchNorm cannot train on a batch of one clip: drop a last batch of one
    loader = torch.utils.data.DataLoader(
        train, batch_size=c.batch_size, shuffle=True, generator=torch.Generator().manual_seed(c.seed),
        num_workers=workers, drop_last=len(train) % c.batch_size == 1, pin_memory=device.type == "cuda")
    history = []
    with tqdm(total=c.epochs * len(loader), desc=mode, unit="batch", disable=not progress, dynamic_ncols=True) as bar:
        for epoch in range(c.epochs):
            train.set_epoch(epoch)
            t0, total, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
            for clips, labels in loader:
                clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                logits = model(clips)  # a frozen trunk builds no graph: nothing in it requires grad
                loss = torch.nn.functional.cross_entropy(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, loss_sum = total + labels.numel(), loss_sum + loss.item() * labels.numel()
                correct += (logits.argmax(1) == labels).sum().item()
                bar.update(1)
            rec = {"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": correct / total,
                   "seconds": time.perf_counter() - t0}
            if validate is not None:
                rng = torch.get_rng_state()  # a DataLoader draws from it: keep training's stream intact
                rec.update(validate(model.eval()))
                torch.set_rng_state(rng)
                _prepare_for_training(model, mode)
            history.append(rec)
            bar.set_postfix(epoch=epoch + 1, loss=f"{rec['loss']:.3f}", acc=f"{rec['train_accuracy']:.2f}")
    model.eval()
    return history


@dataclass
class Evaluation:
    """Test results. ``confusion[i, j]``: videos of class i predicted as j (video level)."""

    classes: list[str]
    clip_accuracy: float
    video_accuracy: float
    per_class_accuracy: list[float]  # NaN for a class without test videos
    confusion: np.ndarray            # (K, K) int
    num_videos: int
    num_clips: int

    def to_dict(self) -> dict:
        """Plain Python values (JSON-ready; a class without test videos gives None)."""
        return {**vars(self), "per_class_accuracy": [None if math.isnan(a) else a for a in self.per_class_accuracy],
                "confusion": self.confusion.tolist()}

    def format(self) -> str:
        """Accuracies, per class, and the confusion matrix (its largest cells past 20 classes)."""
        k = len(self.classes)
        per_class = [[name, "n/a" if math.isnan(a) else f"{a:.3f}", int(row.sum())]
                     for name, a, row in zip(self.classes, self.per_class_accuracy, self.confusion)]
        lines = [f"video accuracy {self.video_accuracy:.3f} ({self.num_videos} videos), clip accuracy "
                 f"{self.clip_accuracy:.3f} ({self.num_clips} clips), chance {1 / k:.3f}",
                 format_table(["class", "video accuracy", "videos"], per_class)]
        if k <= 20:
            rows = [[c, *map(int, r)] for c, r in zip(self.classes, self.confusion)]
            lines += ["confusion (rows: true, columns: predicted):", format_table(["", *range(1, k + 1)], rows)]
        else:
            off = sorted(((int(self.confusion[i, j]), i, j) for i in range(k) for j in range(k)
                          if i != j and self.confusion[i, j]), reverse=True)[:10]
            lines += ["most frequent confusions (true -> predicted: videos):",
                      *[f"  {self.classes[i]} -> {self.classes[j]}: {n}" for n, i, j in off]]
        return "\n".join(lines)

    __str__ = format


@torch.no_grad()
def evaluate(model: ActionClassifier, test: TestVideos, classes: list[str] | None = None, batch_size=4,
             device="cpu", workers=0, progress=False) -> Evaluation:
    """Clip accuracy, and video accuracy: the softmax averaged over a video's windows, as the original."""
    # B videos of W windows go through as (B*W, 3, T, S, S) -> logits (B, W, K)
    device, k = pick_device(str(device)), model.num_classes
    classes = list(classes) if classes is not None else [str(i + 1) for i in range(k)]
    if len(classes) != k:
        raise ValueError(f"{len(classes)} class names for a {k}-way classifier")
    model.to(device).eval()
    loader = torch.utils.data.DataLoader(test, batch_size=batch_size, shuffle=False, num_workers=workers)
    confusion, clip_correct, clips_seen = np.zeros((k, k), dtype=np.int64), 0, 0
    for clips, labels in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, dynamic_ncols=True):
        b, w = clips.shape[:2]
        logits = model(clips.flatten(0, 1).to(device)).view(b, w, k).float().cpu()
        clip_correct += (logits.argmax(2) == labels[:, None]).sum().item()
        clips_seen += b * w
        np.add.at(confusion, (labels.numpy(), logits.softmax(2).mean(1).argmax(1).numpy()), 1)
    n = int(confusion.sum())
    per_class = [float(c / m) if m else math.nan for c, m in zip(confusion.diagonal(), confusion.sum(1))]
    return Evaluation(classes, clip_correct / max(clips_seen, 1), float(np.trace(confusion)) / max(n, 1),
                      per_class, confusion, n, clips_seen)


def save_classifier(path, model: ActionClassifier, classes: list[str], mode: str, settings=None, extra=None):
    """Write the classifier, its class names, mode and data ``settings``; loads with ``weights_only``."""
    return atomic_save({**header(FORMAT), "model_config": model.cfg.to_dict(), "num_classes": model.num_classes,
                        "classes": list(classes), "mode": mode, "settings": dict(settings or {}),
                        "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "extra": extra or {}}, path)


def load_classifier(path, device="cpu") -> tuple[ActionClassifier, dict]:
    """(classifier in eval mode, info: classes, mode, settings, extra, model_config)."""
    state = read_file(path, FORMAT)
    try:
        model = ActionClassifier(state["model_config"], int(state["num_classes"]))
        model.load_state_dict(state["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: classifier file is damaged or does not fit ({one_line(e)})") from None
    info = {key: state.get(key, default) for key, default in
            (("classes", []), ("mode", None), ("settings", {}), ("extra", {}), ("model_config", None))}
    return model.to(device).eval(), info


@dataclass
class FinetuneResult:  # one run of fit_classifier
    model: ActionClassifier
    mode: str
    seed: int
    label_fraction: float
    epochs: int
    train_videos: int
    history: list[dict]
    evaluation: Evaluation
    seconds: float

    def to_dict(self) -> dict:
        """The run's numbers without the model: one row of an experiment table."""
        ev = self.evaluation
        return {**{k: v for k, v in vars(self).items() if k not in ("model", "history", "evaluation")},
                "test_videos": ev.num_videos, "clip_accuracy": ev.clip_accuracy, "video_accuracy": ev.video_accuracy,
                "final_loss": self.history[-1]["loss"] if self.history else None}


def fit_classifier(data: UCF101Data, mode="finetune", checkpoint=None, D=None, cfg=None, *, device="cpu", workers=0,
                   progress=True, track_test=False, **settings) -> FinetuneResult:
    """Build a classifier, train it on ``data.train`` (``settings``: ``FinetuneConfig``'s), test it."""
    # track_test scores data.test every epoch: for held-out training groups, never a real test set
    c = FinetuneConfig(mode=mode, **settings)
    model = build_classifier(len(data.classes), mode, checkpoint=checkpoint, D=D, cfg=cfg, seed=c.seed)
    if (data.frames, data.size) != (model.cfg.frames, model.cfg.size):
        raise DataError(f"clips of {data.frames}x{data.size}x{data.size} do not fit this model's {model.cfg}")
    train = data.train.label_fraction(c.label_fraction, c.seed)

    def validate(m):
        ev = evaluate(m, data.test, data.classes, device=device, workers=workers)
        return {"clip_accuracy": ev.clip_accuracy, "video_accuracy": ev.video_accuracy}

    t0 = time.perf_counter()
    history = train_classifier(model, train, mode, device=device, workers=workers, progress=progress,
                               validate=validate if track_test else None,
                               **{k: v for k, v in vars(c).items() if k not in ("mode", "label_fraction")})
    evaluation = evaluate(model, data.test, data.classes, device=device, workers=workers)
    return FinetuneResult(model, mode, c.seed, c.label_fraction, c.epochs, len(train), history, evaluation,
                          time.perf_counter() - t0)
