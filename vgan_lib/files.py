"""Writing files without losing any: output folders checked before the work, atomic writes,
and the manifest that tells a generated data set already on disk from one to make."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Optional, Type, Union

from tqdm.auto import tqdm

from .errors import DataError, VganError

__all__ = ["ensure_writable_dir", "ensure_writable_file", "atomic_path", "remove_stale_temps", "write_text_atomic",
           "wrong_file", "read_text", "dataset_is_current", "write_manifest", "run_jobs"]

PathLike = Union[str, os.PathLike]


def ensure_writable_dir(folder: PathLike, error: Type[VganError] = DataError) -> Path:
    """Create ``folder`` if needed; raise ``error`` in one line if files cannot be written there. Temporary
    files that an interrupted write left there are removed: every writer calls this before it starts."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error(f"{folder}: output path exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{folder}: cannot create the output folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{folder}: output folder is not writable")
    remove_stale_temps(folder)
    return folder


def ensure_writable_file(path: PathLike, error: Type[VganError] = DataError) -> Path:
    """``path`` checked before any work: in a writable folder, and no folder itself."""
    path = ensure_writable_dir(Path(path).parent, error) / Path(path).name
    if path.is_dir():
        raise error(f"{path}: is a folder; give a file name inside it")
    return path


_TEMP = re.compile(r"\..+\.tmp-(\d+)-[a-z0-9_]{8}\.\w+")  # atomic_path's ".NAME.tmp-PID-RANDOM.SUFFIX"


def _running(pid: int) -> bool:
    try:  # signal 0 only asks on POSIX; on Windows os.kill would end the process, so only this one counts there
        return os.kill(pid, 0) is None if os.name == "posix" else pid == os.getpid()
    except OSError as e:  # PermissionError: another user's process
        return not isinstance(e, ProcessLookupError)


def remove_stale_temps(folder: PathLike) -> list:
    """Remove ``atomic_path``'s temporary files in ``folder`` whose process is gone (killed mid-write); return them."""
    stale = [p for p in Path(folder).glob(".*") if (m := _TEMP.fullmatch(p.name)) and not _running(int(m[1]))]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (ending in ``suffix``, for writers that choose a format
    by it); on success it is renamed over ``path``, on any error removed, ``path`` left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def wrong_file(path: PathLike, text: bool = False) -> Optional[str]:
    """What ``path`` is instead, when its first bytes show it is no data at all: a Git LFS pointer, an HTML page,
    UTF-16 text; binary data where ``text`` is wanted, else an empty file or plain text. None otherwise."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file: run git lfs pull"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or re.fullmatch(rb"([^\0]\0){4}|(\0[^\0]){4}", head[:8]):
        return "UTF-16 text" + ("; save it as UTF-8" if text else "")
    if re.match(rb"\s*<(!doctype html|html)", head, re.I):
        return "an HTML page"
    if text == bool(re.search(rb"[^\t\n\r\f\x20-\x7e\x80-\xff]", head)):  # control bytes: binary
        return "binary data" if text else "text" if head else "an empty file"
    return None


def read_text(path: PathLike, what: str = "file", error: Type[VganError] = DataError) -> str:
    """The UTF-8 text of ``path`` (a list file, a recipe), or ``error`` naming it: missing, or no text of this kind."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        if not (bad := wrong_file(path, text=True)):
            return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad = f"byte {e.object[e.start]:#04x} at offset {e.start} is not UTF-8; save it as UTF-8"
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror})") from None
    raise error(f"{path}: not a {what} ({bad})")


def list_lines(path, what: str = "file") -> list:
    """(line number, tokens) of each non-blank line of a list file: golf lists, UCF-101 split lists."""
    # split() drops "\r", trailing spaces and tabs alike
    return [(n, line.split()) for n, line in enumerate(read_text(path, what).splitlines(), 1) if line.split()]


def write_text_atomic(path: PathLike, text: str, newline: str = None) -> Path:
    """Write ``text`` atomically; ``newline=""`` keeps "\\r\\n" exactly as given."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as f:
        f.write(text)
    return Path(path)


def dataset_is_current(folder: PathLike, manifest_name: str, wanted: dict, *required: str) -> bool:
    """True when ``folder/manifest_name`` records exactly ``wanted`` and the ``required`` files exist."""
    folder, manifest = Path(folder), Path(folder) / manifest_name
    if not manifest.is_file() or not all((folder / r).exists() for r in required):
        return False
    try:
        return json.loads(manifest.read_text()) == wanted
    except (json.JSONDecodeError, OSError):
        return False


def write_manifest(folder: PathLike, manifest_name: str, spec: dict) -> Path:
    """Record what ``folder`` now holds; written last, so a half-written set has none."""
    return write_text_atomic(Path(folder) / manifest_name, json.dumps(spec, indent=2) + "\n")


def run_jobs(fn: Callable, jobs: list, workers: int, desc: str, unit: str, progress: bool = True,
             chunksize: int = 1) -> Iterator:
    """Yield ``fn(*job)`` for each job, in order; in ``workers`` processes when ``workers`` > 1 (``fn`` must
    then be a module-level function), with a progress bar counting jobs as ``unit``."""
    parallel = workers > 1 and len(jobs) > 1
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress or not jobs, dynamic_ncols=True) as bar, \
            (ProcessPoolExecutor(workers) if parallel else contextlib.nullcontext()) as pool:
        for result in (pool.map(fn, *zip(*jobs), chunksize=chunksize) if parallel else (fn(*j) for j in jobs)):
            bar.update()
            yield result
