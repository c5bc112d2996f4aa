"""The kit's exceptions: each message is one line that names the file and what is wrong."""

import re

__all__ = ["VganError", "UsageError", "DataError", "CheckpointError", "one_line"]


class VganError(Exception):
    """Base class; the CLI prints these as ``error: <message>`` and exits with status 2."""


class UsageError(VganError, ValueError):
    """An option or parameter that cannot work, found before any work starts."""


class DataError(VganError, ValueError):
    """A data file that is missing, unreadable or not in the expected format."""


class CheckpointError(VganError, ValueError):
    """A file that is not a checkpoint, or one that does not fit the model it is loaded into."""


def one_line(exc: BaseException) -> str:
    """The last line of an exception's message, without the kit's exception class names."""
    # a DataLoader worker re-raises errors with the worker's traceback before the kit's own message
    # terminal escapes and other control characters would reach the user's terminal raw
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]", "", str(exc)).strip()
    line = text.splitlines()[-1] if text else type(exc).__name__
    for prefix in ("vgan_lib.errors.DataError: ", "vgan_lib.errors.CheckpointError: "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line
