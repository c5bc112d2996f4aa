"""The kit installs like a library: a plain (not editable) install of the working tree loads the
shipped model from the installed package, and the ``vgan`` command runs, without writing into
site-packages.

No download: the new environment sees this environment's packages (torch, numpy, pip,
setuptools...) through a path line in a ``.pth`` file. Python appends such a line to
``sys.path`` but does not process the ``.pth`` files in that folder, so the editable install
of vgan_lib here stays out of sight and ``import vgan_lib`` can only find the installed copy.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env=None, timeout=600) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _copy_working_tree(dest: Path) -> None:
    """The tracked files and the untracked ones git does not ignore, as they are on disk now."""
    listing = _run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT)
    for rel in filter(None, listing.split("\0")):
        src = ROOT / rel
        if src.is_file():   # a tracked file deleted in the working tree is listed but gone
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_a_wheel_install_loads_the_shipped_model_and_runs_vgan(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git working tree")
    env_dir, source, work = tmp_path / "env", tmp_path / "source", tmp_path / "elsewhere"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
                .strip())
    (site / "kit_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    _copy_working_tree(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # -I: pip sees this environment's vgan-lib metadata through the .pth line; never touch it
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-I", source],
         cwd=tmp_path, env=env)
    shutil.rmtree(source)
    work.mkdir()
    before = _listing(site)

    out = _run([python, "-c", "import vgan_lib; print(vgan_lib.__file__); G, D = vgan_lib.load_pretrained(); "
                "print(G.cfg.size)"], cwd=work, env=env)
    imported = Path(out.splitlines()[0])
    assert imported == site / "vgan_lib" / "__init__.py", out
    weights = site / "vgan_lib" / "weights" / "small-synthetic.pt"
    assert weights.is_file() and (weights.parent / "small-synthetic.json").is_file()
    for module in (ROOT / "vgan_lib").rglob("*.py"):   # sub-packages too (vgan_lib.ucf)
        assert (site / module.relative_to(ROOT)).is_file(), module

    samples = work / "samples"
    out = _run([env_dir / "bin" / "vgan", "sample", "--checkpoint", weights, "--out", samples, "--n", "2"],
               cwd=work, env=env)
    assert (samples / "video.mp4").stat().st_size > 0, out
    assert _listing(site) == before   # nothing written into site-packages (no cache, no bytecode, no weights)
    assert Path(sys.prefix).resolve() not in imported.resolve().parents   # not this environment's editable install
