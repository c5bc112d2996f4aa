"""Writing files without losing any.

* ``ensure_writable_dir``: check an output folder before hours of work go into it.
* ``atomic_path``: write to a temporary file beside the target, then rename it over
  the target; a crash or an error never leaves half a file where a whole one was.
* ``dataset_is_current`` / ``write_manifest``: a generated data set carries a small
  JSON manifest of what it holds, so asking for the same data again is free.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator, Type, Union

from .errors import DataError, VganError

__all__ = ["ensure_writable_dir", "atomic_path", "write_text_atomic", "dataset_is_current", "write_manifest"]

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
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``,
    on any error it is removed and ``path`` is left as it was.

    ``suffix`` lets writers that choose a format by extension (PyAV, ``np.save``) see
    the right one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: PathLike, text: str, newline: str = None) -> Path:
    """Write ``text`` atomically; ``newline=""`` keeps "\\r\\n" exactly as given."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
    return Path(path)


def dataset_is_current(folder: PathLike, manifest_name: str, wanted: dict, *required: str) -> bool:
    """True when ``folder/manifest_name`` records exactly ``wanted`` and the ``required``
    files exist: the data set on disk is the one asked for."""
    folder = Path(folder)
    manifest = folder / manifest_name
    if not manifest.is_file() or not all((folder / r).exists() for r in required):
        return False
    try:
        return json.loads(manifest.read_text()) == wanted
    except (json.JSONDecodeError, OSError):
        return False


def write_manifest(folder: PathLike, manifest_name: str, spec: dict) -> Path:
    """Record what ``folder`` now holds; written last, so a half-written set has none."""
    return write_text_atomic(Path(folder) / manifest_name, json.dumps(spec, indent=2) + "\n")
