"""The command line: help for every command, a working make-data -> train -> sample path,
and one-line errors for bad arguments and bad files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vgan_lib.checkpoint import load_checkpoint, save_weights
from vgan_lib.cli import main
from vgan_lib.model import VideoGANConfig, build_models

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vgan_lib", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("command", ["make-data", "train", "sample"])
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage: vgan " + command in result.stdout


def _error_line(capsys, argv):
    code = None
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_an_argument_of_the_wrong_type_is_one_line(capsys):
    line = _error_line(capsys, ["train", "--batch-size", "many"])
    assert line == "vgan: error: argument --batch-size: 'many' is not an integer (see vgan train --help)"


def test_a_missing_list_file_is_one_line_naming_it(capsys, tmp_path):
    line = _error_line(capsys, ["train", "--data", str(tmp_path / "none.txt"), "--out", str(tmp_path / "run")])
    assert line == f"vgan: error: {tmp_path / 'none.txt'}: no such list file"


def test_sampling_from_a_file_that_is_not_a_checkpoint_is_one_line(capsys, tmp_path):
    (tmp_path / "x.pt").write_text("nope")
    line = _error_line(capsys, ["sample", "--checkpoint", str(tmp_path / "x.pt"), "--out", str(tmp_path)])
    assert line.startswith(f"vgan: error: {tmp_path / 'x.pt'}: not a vgan_lib GAN checkpoint")


def test_an_output_folder_that_cannot_be_made_is_one_line(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    line = _error_line(capsys, ["make-data", "--out", str(tmp_path / "file" / "d"), "--count", "1"])
    assert line.startswith(f"vgan: error: {tmp_path / 'file' / 'd'}: cannot create the output folder")


def test_starting_from_weights_of_another_size_is_one_line(capsys, synthetic_dir, tmp_path):
    weights = ROOT / "vgan_lib" / "weights" / "small-synthetic.pt"
    line = _error_line(capsys, ["train", "--data", str(synthetic_dir / "train.txt"), "--size", "16",
                                "--batch-size", "4", "--init", str(weights), "--out", str(tmp_path / "r")])
    assert line.startswith("vgan: error: ") and "small-synthetic.pt: checkpoint config does not match" in line
    assert "size 32 vs 16" in line


def test_starting_from_weights_without_a_preset_takes_the_files_model(synthetic_dir, tmp_path):
    cfg = VideoGANConfig(frames=16, size=16, z_dim=8, width=4, minibatch_std=2)
    save_weights(tmp_path / "w.pt", *build_models(cfg))
    assert main(["train", "--data", str(synthetic_dir / "train.txt"), "--init", str(tmp_path / "w.pt"),
                 "--batch-size", "2", "--iterations", "1", "--workers", "0", "--no-progress", "--device", "cpu",
                 "--sample-every", "0", "--out", str(tmp_path / "r")]) == 0
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["model_config"] == cfg


def test_a_negative_extra_weight_is_one_line(capsys, synthetic_dir, tmp_path):
    line = _error_line(capsys, ["train", "--data", str(synthetic_dir / "train.txt"), "--extra", "blend=-1",
                                "--out", str(tmp_path / "r")])
    assert line == "vgan: error: extra term 'blend' needs a weight >= 0, got -1.0"


def test_an_unknown_extra_term_is_one_line_naming_the_known_ones(capsys, synthetic_dir, tmp_path):
    line = _error_line(capsys, ["train", "--data", str(synthetic_dir / "train.txt"), "--extra", "r1=0.5",
                                "--out", str(tmp_path / "r")])
    assert line == "vgan: error: unknown extra term 'r1'; the kit has blend, flicker"


def test_the_gan_loss_terms_belong_to_train_not_to_finetune(capsys):
    line = _error_line(capsys, ["finetune", "--extra", "flicker=1"])
    assert line == "vgan: error: unrecognized arguments: --extra flicker=1 (see vgan --help)"


def test_a_recipe_takes_no_training_options_beside_it(capsys, tmp_path):
    line = _error_line(capsys, ["train", "--recipe", str(ROOT / "recipes" / "small-synthetic.toml"), "--lr", "1e-3",
                                "--out", str(tmp_path / "r")])
    assert line.endswith("small-synthetic.toml: the recipe sets the model, data and training; leave out --lr")


def test_impossible_model_sizes_are_one_line(capsys, synthetic_dir, tmp_path):
    line = _error_line(capsys, ["train", "--data", str(synthetic_dir / "train.txt"), "--frames", "20",
                                "--out", str(tmp_path / "r")])
    assert "frames must be a positive multiple of 16" in line


@pytest.mark.slow
def test_make_data_train_resume_and_sample_end_to_end(tmp_path):
    data = tmp_path / "data"
    r = run_cli("make-data", "--out", str(data), "--count", "24", "--frames", "16", "--size", "32")
    assert r.returncode == 0, r.stderr
    train = ["train", "--data", str(data / "train.txt"), "--frames", "16", "--size", "16", "--width", "4",
             "--batch-size", "4", "--workers", "0", "--out", str(tmp_path / "run"), "--sample-every", "2",
             "--no-progress"]
    r = run_cli(*train, "--iterations", "2")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert (tmp_path / "run" / "samples" / "step_0000002.mp4").stat().st_size > 0

    r = run_cli(*train, "--iterations", "3")
    assert r.returncode == 2 and "pass --resume" in r.stderr
    r = run_cli(*train, "--iterations", "3", "--resume")
    assert r.returncode == 0 and "resumed from" in r.stdout and "at step 2" in r.stdout

    # a new run from the first one's weights; --resume then continues the new run, not the weights
    more = [*train[:train.index("--out")], "--out", str(tmp_path / "more"), "--no-progress",
            "--init", str(tmp_path / "run" / "checkpoint.pt"), "--resume", "--extra", "blend=2"]
    r = run_cli(*more, "--iterations", "1")
    assert r.returncode == 0 and "started from the weights of" in r.stdout, r.stderr
    r = run_cli(*more, "--iterations", "2")
    assert r.returncode == 0 and "at step 1" in r.stdout and "started from" not in r.stdout, r.stderr
    assert load_checkpoint(tmp_path / "more" / "checkpoint.pt")["train_config"]["extras"] == {"blend": 2.0}

    r = run_cli("sample", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "s"),
                "--n", "4", "--format", "gif")
    assert r.returncode == 0, r.stderr
    for view in ("video", "foreground", "background", "mask"):
        assert (tmp_path / "s" / f"{view}.gif").stat().st_size > 0


@pytest.mark.parametrize("option, message", [
    (["--device", "cuda"], "device 'cuda' asked for, but this torch sees no CUDA GPU"),
    (["--precision", "fp16"], "precision 'fp16' needs a GPU; on the CPU use 'bf16'"),
])
def test_a_device_or_precision_this_machine_lacks_is_one_line_before_any_work(capsys, synthetic_dir, tmp_path,
                                                                               option, message):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = _error_line(capsys, ["train", "--data", str(synthetic_dir / "train.txt"), *option, "--out",
                                str(tmp_path / "r")])
    assert line == f"vgan: error: {message}"
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def _failing(monkeypatch, error):
    import vgan_lib.cli as cli

    def fail(args):
        raise error
    monkeypatch.setattr(cli, "_cmd_sample", fail)
    return ["sample", "--checkpoint", "x.pt"]


def test_an_unexpected_error_is_one_line_naming_the_file_that_holds_its_traceback(capsys, monkeypatch):
    argv = _failing(monkeypatch, RuntimeError("a \x1b[1mbroken\x1b[0m part\nits last line"))
    assert main(argv) == 1
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vgan: internal error: RuntimeError: its last line (traceback in ")
    log = Path(line.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "a \x1b[1mbroken" in log.read_text()
    log.unlink()
    with pytest.raises(RuntimeError, match="broken"):  # --debug: the traceback itself
        main(["--debug", *argv])


def test_a_file_the_system_refuses_is_one_line_naming_it(capsys, monkeypatch):
    argv = _failing(monkeypatch, PermissionError(13, "Permission denied", "/data/run/checkpoint.pt"))
    assert main(argv) == 2
    assert capsys.readouterr().err == "vgan: error: /data/run/checkpoint.pt: Permission denied\n"


def test_a_temporary_file_of_a_killed_write_is_removed_when_the_next_command_writes_there(tmp_path, synthetic_dir):
    import subprocess as sp

    gone = sp.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = tmp_path / "run"
    run.mkdir()
    stale = run / f".checkpoint.pt.tmp-{int(gone.stdout)}-k1lled_x.tmp"  # as atomic_path names it
    live = run / f".checkpoint.pt.tmp-{os.getpid()}-inflight.tmp"  # a write still in progress (this process)
    others = [run / ".notes.tmp", run / ".backup.2024.01234567.tar"]  # not the kit's
    for p in (stale, live, *others):
        p.write_bytes(b"half a checkpoint")
    assert main(["train", "--data", str(synthetic_dir / "train.txt"), "--size", "16", "--frames", "16", "--width", "4",
                 "--batch-size", "4", "--iterations", "1", "--workers", "0", "--no-progress", "--precision", "fp32",
                 "--sample-every", "0", "--out", str(run)]) == 0
    assert not stale.exists() and live.exists() and all(p.exists() for p in others)
    assert not [p for p in run.iterdir() if p.name.startswith(".checkpoint.pt.") and p != live]
