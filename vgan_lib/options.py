"""Settings declared once: a dataclass field carries its default, help and check.

    @dataclass
    class TrainConfig:
        batch_size: int = option(64, "videos per batch", at_least=1)

The dataclass checks itself (``check_fields`` in ``__post_init__``), the command line builds its options from the
fields (``add_options``), and a notebook checks its papermill parameters against the same fields
(``nbtools.check_params``): one name, one default, one help text and one rule for each setting."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, field, fields
from typing import Any, Optional, Sequence

__all__ = ["option", "problem", "check_fields", "arg_type", "add_options", "values_from", "checked", "from_args"]


def option(default: Any, help: str, *, at_least: Optional[float] = None, above: Optional[float] = None,
           below: Optional[float] = None, choices: Optional[Sequence] = None, kind: Optional[type] = None):
    """A dataclass field with its help text and rule; ``kind``: the type, where a default of None hides it."""
    meta = dict(help=help, at_least=at_least, above=above, below=below,
                choices=tuple(choices) if choices is not None else None, kind=kind or type(default))
    return field(default=default, metadata=meta)


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "True or False"}.get(kind, kind.__name__)


def problem(value: Any, meta: dict) -> Optional[str]:
    """What is wrong with ``value`` under a field's rule (``"must be at least 1, got 0"``), or None."""
    kind = meta.get("kind") or type(value)
    if value is None:
        return None if meta.get("none_ok", True) else "must not be None"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)  # True is no number here
    if not (number and (kind is float or isinstance(value, int)) if kind in (int, float) else isinstance(value, kind)):
        return f"must be {_kind_name(kind)}, got {type(value).__name__} {value!r}"
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"must be one of {', '.join(map(repr, meta['choices']))}, got {value!r}"
    if meta.get("at_least") is not None and value < meta["at_least"]:
        return f"must be at least {meta['at_least']:g}, got {value!r}"
    if meta.get("above") is not None and not value > meta["above"]:
        return f"must be above {meta['above']:g}, got {value!r}"
    if meta.get("below") is not None and not value < meta["below"]:
        return f"must be below {meta['below']:g}, got {value!r}"
    return None


def check_fields(obj) -> None:
    """Raise one ValueError line for the first field of a dataclass instance that breaks its rule."""
    for f in fields(obj):
        if "help" in f.metadata:
            bad = problem(getattr(obj, f.name), {**f.metadata, "none_ok": f.default is None})
            if bad:
                raise ValueError(f"{f.name} {bad}")


def arg_type(kind: type, **rule):
    """An argparse ``type``: the text as ``kind``, checked against ``rule`` (``at_least=1``, ...)."""
    meta = {"kind": kind, **rule}

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_kind_name(kind)}") from None
        bad = problem(value, meta)
        if bad:
            raise argparse.ArgumentTypeError(bad.rsplit(", got", 1)[0])
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_options(parser, cls, only: Optional[Sequence[str]] = None, skip: Sequence[str] = (),
                defaults: Optional[dict] = None) -> None:
    """Add a ``--name`` option for each field of dataclass ``cls`` (``only`` these, none in ``skip``); defaults are the
    dataclass's own unless ``defaults`` gives another for this command; a bool field becomes an on/off switch."""
    defaults = defaults or {}
    for f in fields(cls):
        if "help" not in f.metadata or f.name in skip or (only is not None and f.name not in only):
            continue
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        default = defaults.get(f.name, f.default if f.default is not MISSING else None)
        help_text = meta["help"] + ("" if default is None else f" (default: {default})")
        if meta["kind"] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=meta["help"])
        else:
            rule = {k: v for k, v in meta.items() if k not in ("help", "kind", "choices")}
            parser.add_argument(flag, type=arg_type(meta["kind"], **rule), default=default, choices=meta.get("choices"),
                                help=help_text, metavar=None if meta.get("choices") else f.name.upper())


def values_from(args: argparse.Namespace, cls) -> dict:
    """The parsed values of ``cls``'s fields that the parser has, ready for ``cls(**values)``."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def checked(make, *args, **kwargs):
    """``make(*args, **kwargs)``, its ValueError turned into a UsageError line (found before any work)."""
    from .errors import UsageError

    try:
        return make(*args, **kwargs)
    except ValueError as e:
        raise UsageError(str(e)) from None


def from_args(cls, args: argparse.Namespace, **more):
    """``cls`` built from the parsed options of its fields (and ``more``), checked."""
    return checked(cls, **values_from(args, cls), **more)
