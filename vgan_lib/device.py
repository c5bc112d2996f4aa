"""Where the tensors live and in what precision: device choice, autocast, seeding."""

from __future__ import annotations

import contextlib
import os
import platform
import random

import numpy as np
import torch

from .errors import UsageError
from .options import checked

__all__ = ["pick_device", "usable_device", "native_bf16", "cpu_kind", "pick_precision", "autocast", "seed_everything",
           "PRECISIONS"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); without, oneDNN emulates it, 22-28x slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(getattr(torch, "cpu", None), check, lambda: False)() for check in checks)


def cpu_kind() -> str:
    """This CPU in one line for a benchmark's first: model, cores, torch's instruction set, native bf16 or not."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:  # Linux names the model there
        name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    return (f"{name} | cores {os.cpu_count()} | {torch.backends.cpu.get_cpu_capability()} | "
            f"native bf16 {native_bf16()}")


def pick_precision(precision: str, device: torch.device) -> str:
    """``"auto"``: bf16 autocast on CUDA and on CPUs with native bf16, where it is the fastest; else fp32."""
    if precision != "auto":
        return precision
    fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else device.type == "cpu" and native_bf16()
    return "bf16" if fast else "fp32"


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` takes CUDA, then Apple's MPS, then the CPU; any torch device string works too."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA GPU")
    return device


def usable_device(name: str, precision: str = "fp32") -> torch.device:
    """``pick_device(name)``, tried on this machine with ``precision``: one UsageError line if they cannot work."""
    device = checked(pick_device, name)
    try:
        torch.empty(1, device=device)
    except (RuntimeError, NotImplementedError):  # a backend this torch or machine lacks (mps off a Mac)
        raise UsageError(f"device {name!r} asked for, but this torch cannot use it on this machine") from None
    checked(autocast, device, precision)
    return device


def autocast(device: torch.device, precision: str):
    """A context that runs the forward pass in ``precision`` (fp32: no autocast). bf16 works on the
    CPU and CUDA; fp16 needs CUDA or MPS and a gradient scaler (see ``GANTrainer``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    precision = pick_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs a GPU; on the CPU use 'bf16'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
