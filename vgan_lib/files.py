"""Writing files without losing any: output folders checked before the work, atomic writes,
and the manifest that tells a generated data set already on disk from one to make."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Type, Union

from tqdm.auto import tqdm

from .errors import DataError, VganError

__all__ = ["ensure_writable_dir", "atomic_path", "write_text_atomic", "dataset_is_current", "write_manifest",
           "run_jobs"]

PathLike = Union[str, os.PathLike]


def ensure_writable_dir(folder: PathLike, error: Type[VganError] = DataError) -> Path:
    """Create ``folder`` if needed; raise ``error`` in one line if files cannot be written there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"{folder}: cannot create the output folder ({e.strerror})") from None
    if not folder.is_dir():
        raise error(f"{folder}: output path exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{folder}: output folder is not writable")
    return folder


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (ending in ``suffix``, for writers that choose a format
    by it); on success it is renamed over ``path``, on any error removed, ``path`` left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_lines(path, what: str = "file") -> list:
    """(line number, tokens) of each non-blank line of a list file: golf lists, UCF-101 split lists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such {what}")
    with open(path, encoding="utf-8", errors="replace") as f:
        # split() drops "\r", trailing spaces and tabs alike
        return [(n, line.split()) for n, line in enumerate(f, 1) if line.split()]


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
