"""Training on several processes: ``torchrun --nproc-per-node N -m vgan_lib train ...``.

Each process (rank) holds G and D, draws its own latents and reads its own share of the data order;
DistributedDataParallel averages the gradients, so every rank takes the same Adam step and the weights stay identical.
Each rank keeps its own BatchNorm statistics (training uses the batch's own); rank 0 writes."""
# G and D are wrapped separately, with broadcast_buffers=False: D runs on the real and on the fake batch before one
# backward, and a buffer broadcast between the two forwards breaks autograd's in-place check.

from __future__ import annotations

import inspect
import os

import torch
import torch.distributed as dist

__all__ = ["rank_and_world", "start_from_env", "wrap", "gather"]


def rank_and_world() -> tuple:
    """(this process's rank, number of processes); (0, 1) outside a distributed run."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)


def start_from_env():
    """Join the process group torchrun describes in the environment (nccl on GPUs, gloo on CPUs);
    return the device this rank should train on. Outside torchrun: nothing, None."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None
    gpu = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if gpu else "gloo")
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if gpu else "cpu"


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` inside DistributedDataParallel when there are several ranks, else itself."""
    if rank_and_world()[1] == 1:
        return module
    if module not in _WRAPPED:  # one wrapper a module: a recipe's next phase keeps it (two would both reduce)
        ddp, new = torch.nn.parallel.DistributedDataParallel, "forward_sync_buffers"
        # newer torch calls the switch forward_sync_buffers; both leave each rank its own statistics
        off = new if new in inspect.signature(ddp).parameters else "broadcast_buffers"
        _WRAPPED[module] = ddp(module, device_ids=[device.index] if device.type == "cuda" else None, **{off: False})
    return _WRAPPED[module]


_WRAPPED: dict = {}  # module -> its DDP wrapper, for the life of the run


def gather(state: torch.Tensor) -> list:
    """Every rank's copy of a CPU tensor (e.g. its latent generator's state), in rank order."""
    out = [state] * rank_and_world()[1]
    if len(out) > 1:
        dist.all_gather_object(out, state)
    return out
