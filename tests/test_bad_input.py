"""Every bad input a careless user can give, across every command, as one table: each ends with exit status 2 and
exactly one stderr line, ``vgan: error: ...``, that names the file or option; no traceback, no terminal escape,
no pickled code run, and every file that was there before is still there, byte for byte, with none added."""

import fractions
import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from vgan_lib.checkpoint import save_checkpoint, save_weights
from vgan_lib.cli import main
from vgan_lib.model import VideoGANConfig, build_models
from vgan_lib.synthetic import SyntheticSpec, make_synthetic
from vgan_lib.train import GANTrainer, TrainConfig
from vgan_lib.ucf.finetune import build_classifier, save_classifier
from vgan_lib.ucf.synthetic import ActionSpec, make_actions

TINY = VideoGANConfig(frames=16, size=16, z_dim=8, width=4)
MODEL = ["--frames", "16", "--size", "16", "--z-dim", "8", "--width", "4"]
LFS = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 123456\n"
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Sign in to download</body></html>\n"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


class Trap:
    """Unpickling this would create the file ``pickled-code-ran``: no load may ever do so."""

    def __init__(self, folder):
        self.folder = folder

    def __reduce__(self):
        return open, (str(self.folder / "pickled-code-ran"), "w")


def _strip(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace of good and bad files: data sets, checkpoints, list files, strips, videos, recipes."""
    ws = tmp_path_factory.mktemp("bad-input")
    make_synthetic(ws / "syn", SyntheticSpec(count=4, frames=16, size=16, seed=1), workers=1, progress=False)
    G, D = build_models(TINY)
    save_checkpoint(ws / "gan.pt", GANTrainer(G, D, TrainConfig(device="cpu", precision="fp32")).state_dict(), TINY)
    save_weights(ws / "weights-run" / "checkpoint.pt", G, D)
    (ws / "old-run").mkdir()
    shutil.copy(ws / "gan.pt", ws / "old-run" / "checkpoint.pt")
    save_weights(ws / "wider.pt", *build_models(VideoGANConfig(frames=16, size=16, z_dim=8, width=8)))
    save_classifier(ws / "cls.pt", build_classifier(2, "scratch", cfg=TINY), ["Biking", "Diving"], "scratch",
                    {"split": 1, "frames": 16, "size": 16, "stride": 1, "fps": None, "windows": 2})
    for name, content in (("lfs.pt", LFS), ("page.pt", HTML), ("empty.pt", b""),
                          ("truncated.pt", (ws / "gan.pt").read_bytes()[:3000])):
        (ws / name).write_bytes(content)
    torch.save({"G": Trap(ws)}, ws / "trap.pt")
    torch.save({"G": fractions.Fraction(1, 3)}, ws / "fraction.pt")  # torch's refusal carries terminal escapes
    listed = (ws / "syn" / "train.txt").read_text()
    (ws / "syn" / "utf16.txt").write_text(listed, encoding="utf-16")
    (ws / "syn" / "latin1.txt").write_bytes("clips/caf\xe9.jpg\n".encode("latin-1"))
    for name, content in (("page.txt", HTML), ("lfs.txt", LFS), ("empty.txt", b""),
                          ("missing-clip.txt", b"clips/000/nope.jpg\n")):
        (ws / "syn" / name).write_bytes(content)
    first = ws / "syn" / listed.split()[0]
    bomb = bytearray(first.read_bytes())  # the frame header claims 60000 x 60000 pixels
    sof = bomb.find(b"\xff\xc0")
    bomb[sof + 5:sof + 9] = (60000).to_bytes(2, "big") * 2
    strips = {"page": HTML, "lfs": LFS, "bomb": bytes(bomb), "cut": first.read_bytes()[:200],
              "odd": Image.new("RGB", (16, 40))}
    for name, content in strips.items():
        _strip(ws / "syn" / "bad" / f"{name}.jpg", content)
        (ws / "syn" / f"strip-{name}.txt").write_text(f"bad/{name}.jpg\n")
    (ws / "unknown-key.toml").write_text('colour = "blue"\n')
    (ws / "utf16.toml").write_text("[model]\n", encoding="utf-16")
    (ws / "good.toml").write_text('[data]\nlist = "syn/train.txt"\n[[phase]]\nsteps = 1\n')
    (ws / "a-file").write_text("not a folder\n")
    (ws / "a-folder").mkdir()
    make_actions(ws / "act", ActionSpec(classes=2, groups=3, clips_per_group=1), workers=1, progress=False)
    video = Path("UCF-101") / "YoYo" / "v_YoYo_g02_c01.avi"
    data = (ws / "act" / video).read_bytes()
    third = len(data) // 3
    for kind, content in (("damaged", data[:third] + bytes(4000) + data[third + 4000:]), ("cut", data[:len(data) // 2]),
                          ("lfs", LFS), ("page", HTML)):
        shutil.copytree(ws / "act", ws / f"act-{kind}")
        (ws / f"act-{kind}" / video).write_bytes(content)
    shutil.copytree(ws / "act", ws / "act-utf16")
    index = ws / "act-utf16" / "ucfTrainTestlist" / "classInd.txt"
    index.write_text(index.read_text(), encoding="utf-16")
    return ws


def _train(*more):
    return ["train", "--data", "{ws}/syn/train.txt", *MODEL, "--batch-size", "1", "--iterations", "1",
            "--workers", "0", "--no-progress", "--precision", "fp32", "--no-channels-last", "--device", "cpu",
            "--sample-every", "0", "--out", "{new}/run", *more]


def _strip_train(name):
    return _train("--data", f"{{ws}}/syn/strip-{name}.txt")


def _sample(*more):
    return ["sample", "--checkpoint", "{ws}/gan.pt", "--out", "{new}/samples", "--n", "1", "--format", "gif", *more]


def _finetune(data="act", *more):
    return ["finetune", "--checkpoint", "{ws}/gan.pt", "--data", f"{{ws}}/{data}", "--epochs", "1",
            "--batch-size", "2", "--out", "{new}/cls.pt", "--cache", "{tmp}/cache", "--device", "cpu",
            "--no-progress", *more]


def _evaluate(data="act", *more):
    return ["evaluate", "--classifier", "{ws}/cls.pt", "--data", f"{{ws}}/{data}", "--cache", "{tmp}/cache",
            "--device", "cpu", "--no-progress", *more]


VIDEO = "UCF-101/YoYo/v_YoYo_g02_c01.avi"


def case(name, argv, names, marks=()):
    return pytest.param(argv, names, id=name, marks=marks)


CASES = [
    # arguments: wrong type, out of range, unknown, missing
    case("argument of the wrong type", _train("--batch-size", "many"), "--batch-size"),
    case("a step count of zero", _train("--iterations", "0"), "--iterations"),
    case("a negative learning rate", _train("--lr", "-1"), "--lr"),
    case("an unknown preset", _train("--preset", "huge"), "--preset"),
    case("an unknown option", _train("--colour", "blue"), "--colour"),
    case("a required option left out", ["sample", "--out", "{new}"], "--checkpoint"),
    case("no clips to make", ["make-data", "--out", "{new}/d", "--count", "0"], "--count"),
    case("no classes to make", ["make-actions", "--out", "{new}/a", "--classes", "0"], "--classes"),
    case("an unknown fine-tuning mode", _finetune("act", "--mode", "fancy"), "--mode"),
    case("a split that does not exist", _evaluate("act", "--split", "4"), "--split"),
    case("an unknown video format", _sample("--format", "avi"), "--format"),
    # options that cannot work together or at all
    case("both --iterations and --epochs", _train("--epochs", "1"), "--iterations"),
    case("a recipe with a training option beside it", ["train", "--recipe", "{ws}/good.toml", "--lr", "0.1"], "--lr"),
    case("fine-tuning without a checkpoint", ["finetune", "--data", "{ws}/act", "--out", "{new}/c.pt"], "--checkpoint"),
    case("an unknown extra loss term", _train("--extra", "sparkle=1"), "sparkle"),
    case("a negative extra weight", _train("--extra", "flicker=-1"), "flicker"),
    case("a frame size the network cannot make", _train("--size", "20"), "size"),
    # a device or precision this machine lacks
    case("train on CUDA without one", _train("--device", "cuda"), "'cuda'", marks=NO_CUDA),
    case("fp16 on the CPU", _train("--precision", "fp16"), "'fp16'"),
    case("a device torch does not know", _train("--device", "abacus"), "'abacus'"),
    case("Apple's GPU off a Mac", _sample("--device", "mps"), "'mps'",
         marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")),
    case("sample on CUDA without one", _sample("--device", "cuda"), "'cuda'", marks=NO_CUDA),
    case("finetune on CUDA without one", _finetune("act", "--device", "cuda"), "'cuda'", marks=NO_CUDA),
    case("evaluate on CUDA without one", _evaluate("act", "--device", "cuda"), "'cuda'", marks=NO_CUDA),
    # output paths
    case("an output folder inside a file", ["make-data", "--out", "{ws}/a-file/d", "--count", "1"], "{ws}/a-file/d"),
    case("a run folder that is a file", _train("--out", "{ws}/a-file"), "{ws}/a-file: output path exists and is not"),
    case("a run that exists, without --resume", _train("--out", "{ws}/old-run"), "{ws}/old-run/checkpoint.pt"),
    case("a classifier --out that is a folder", _finetune("act", "--out", "{ws}/a-folder"), "{ws}/a-folder"),
    case("an evaluation --json that is a folder", _evaluate("act", "--json", "{ws}/a-folder"), "{ws}/a-folder"),
    case("an evaluation --json inside a file", _evaluate("act", "--json", "{ws}/a-file/r.json"), "{ws}/a-file"),
    # checkpoints and classifier files
    case("a checkpoint that does not exist", _sample("--checkpoint", "{ws}/none.pt"), "{ws}/none.pt"),
    case("a Git LFS pointer for a checkpoint", _sample("--checkpoint", "{ws}/lfs.pt"), "{ws}/lfs.pt: not a vgan_lib "
     "GAN checkpoint (a Git LFS pointer, not the file: run git lfs pull)"),
    case("a web page for a checkpoint", _sample("--checkpoint", "{ws}/page.pt"), "{ws}/page.pt: not a vgan_lib GAN "
     "checkpoint (an HTML page)"),
    case("an empty checkpoint", _sample("--checkpoint", "{ws}/empty.pt"), "{ws}/empty.pt"),
    case("a truncated checkpoint", _sample("--checkpoint", "{ws}/truncated.pt"), "{ws}/truncated.pt"),
    case("a checkpoint with pickled code", _sample("--checkpoint", "{ws}/trap.pt"), "{ws}/trap.pt"),
    case("a checkpoint with a pickled object", _sample("--checkpoint", "{ws}/fraction.pt"), "fractions.Fraction"),
    case("a classifier for a GAN checkpoint", _sample("--checkpoint", "{ws}/cls.pt"), "{ws}/cls.pt: is a vgan_lib "
     "classifier"),
    case("a GAN checkpoint for a classifier", _evaluate("act", "--classifier", "{ws}/gan.pt"), "{ws}/gan.pt"),
    case("starting from weights of another width", _train("--init", "{ws}/wider.pt"), "{ws}/wider.pt"),
    case("resuming from a weights-only file", _train("--out", "{ws}/weights-run", "--resume"), "weights-run"),
    case("fine-tuning from a Git LFS pointer", _finetune("act", "--checkpoint", "{ws}/lfs.pt"), "{ws}/lfs.pt"),
    case("a classifier trained on other classes", _evaluate("act"), "{ws}/cls.pt"),
    # list files
    case("a list file that does not exist", _train("--data", "{ws}/syn/none.txt"), "{ws}/syn/none.txt"),
    case("a UTF-16 list file", _train("--data", "{ws}/syn/utf16.txt"), "{ws}/syn/utf16.txt: not a list file (UTF-16"),
    case("a Latin-1 list file", _train("--data", "{ws}/syn/latin1.txt"), "{ws}/syn/latin1.txt: not a list file (byte "
     "0xe9"),
    case("a web page for a list file", _train("--data", "{ws}/syn/page.txt"), "{ws}/syn/page.txt"),
    case("a Git LFS pointer for a list file", _train("--data", "{ws}/syn/lfs.txt"), "run git lfs pull"),
    case("an empty list file", _train("--data", "{ws}/syn/empty.txt"), "{ws}/syn/empty.txt"),
    case("a checkpoint for a list file", _train("--data", "{ws}/gan.pt"), "{ws}/gan.pt: not a list file (binary data)"),
    case("a listed clip that is missing", _train("--data", "{ws}/syn/missing-clip.txt"), "{ws}/syn/clips/000/nope.jpg"),
    case("a data root that is not a folder", _train("--root", "{ws}/a-file"), "{ws}/a-file"),
    # strips, found as the first batch loads
    case("a web page for a strip", _strip_train("page"), "{ws}/syn/bad/page.jpg: not an image (an HTML page)"),
    case("a Git LFS pointer for a strip", _strip_train("lfs"), "{ws}/syn/bad/lfs.jpg"),
    case("a strip whose header claims a vast image", _strip_train("bomb"), "{ws}/syn/bad/bomb.jpg"),
    case("a truncated strip", _strip_train("cut"), "{ws}/syn/bad/cut.jpg"),
    case("a strip that is no stack of squares", _strip_train("odd"), "{ws}/syn/bad/odd.jpg"),
    # recipes
    case("a recipe that does not exist", ["train", "--recipe", "{ws}/none.toml"], "{ws}/none.toml"),
    case("a recipe with an unknown key", ["train", "--recipe", "{ws}/unknown-key.toml"], "'colour'"),
    case("a UTF-16 recipe", ["train", "--recipe", "{ws}/utf16.toml"], "{ws}/utf16.toml"),
    # videos and the UCF-101 layout
    case("a data folder that does not exist", _finetune("none"), "{ws}/none"),
    case("a video with overwritten bytes", _finetune("act-damaged"), "{ws}/act-damaged/" + VIDEO + ": corrupt video"),
    case("a truncated video", _finetune("act-cut"), "{ws}/act-cut/" + VIDEO + ": truncated video"),
    case("a Git LFS pointer for a video", _finetune("act-lfs"), "{ws}/act-lfs/" + VIDEO + ": not a video (a Git LFS"),
    case("a web page for a video", _evaluate("act-page"), "{ws}/act-page/" + VIDEO + ": not a video (an HTML page)"),
    case("a UTF-16 class index", _finetune("act-utf16"), "{ws}/act-utf16/ucfTrainTestlist/classInd.txt: not a class "
         "index (UTF-16"),
]


def _files(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, names", CASES)
def test_a_bad_input_is_one_line_naming_it_and_nothing_is_lost(ws, tmp_path, capfd, argv, names):
    where = {"ws": ws, "new": ws / "new" / tmp_path.name, "tmp": tmp_path}
    before = _files(ws)
    try:
        code = main([arg.format(**where) for arg in argv])
    except SystemExit as e:  # no path out of main may end the program itself
        pytest.fail(f"main() raised SystemExit({e.code})")
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("vgan: error: "), err
    assert names.format(**where) in lines[0]
    assert "Traceback" not in err and "\x1b" not in err
    assert _files(ws) == before  # nothing changed, removed or added
    assert not (ws / "pickled-code-ran").exists()


def test_the_table_covers_every_command_with_at_least_40_cases():
    commands = {c.values[0][0] for c in CASES}
    assert commands == {"make-data", "train", "sample", "make-actions", "finetune", "evaluate"}
    assert len(CASES) >= 40
