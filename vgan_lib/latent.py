"""Walking through the latent space: interpolation paths, distances along them, principal directions.

Latents are ``(..., d)`` tensors; ``alpha`` is a number or a tensor that broadcasts against the batch dimensions. Almost
all of N(0, I)'s mass lies in a thin shell of radius about sqrt(d): ``slerp`` stays in it, while ``lerp``'s midpoint of
two independent latents is only about 0.71 times as long."""

from __future__ import annotations

import math
from typing import NamedTuple, Union

import torch
from torch import nn

__all__ = ["METHODS", "lerp", "slerp", "interpolate", "interpolation_path", "sample_latents", "step_lengths",
           "path_length", "angle", "PrincipalDirections", "principal_directions"]

METHODS = ("linear", "spherical")
Alpha = Union[float, torch.Tensor]


def _alpha(alpha: Alpha, like: torch.Tensor) -> torch.Tensor:
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    return a.unsqueeze(-1) if a.dim() else a  # broadcast over the latent dimension


def lerp(z0: torch.Tensor, z1: torch.Tensor, alpha: Alpha) -> torch.Tensor:
    """The straight line ``(1 - alpha) * z0 + alpha * z1``."""
    a = _alpha(alpha, z0)
    return (1 - a) * z0 + a * z1


def _orthogonal_to(u: torch.Tensor) -> torch.Tensor:
    # a unit vector orthogonal to each unit vector in u (..., d): Gram-Schmidt on the basis vector where u
    # has its smallest component
    e = torch.zeros_like(u)
    e.scatter_(-1, u.abs().argmin(dim=-1, keepdim=True), 1.0)
    v = e - (e * u).sum(-1, keepdim=True) * u
    return v / v.norm(dim=-1, keepdim=True)


def slerp(z0: torch.Tensor, z1: torch.Tensor, alpha: Alpha, eps: float = 1e-4) -> torch.Tensor:
    """Spherical interpolation: the angle to z0 grows linearly with alpha along the great circle, the norm
    is ``(1 - alpha)|z0| + alpha|z1|``; for equal lengths ``sin((1-a)W)/sin W * z0 + sin(aW)/sin W * z1``.

    Near-parallel vectors (angle below ``eps``) and zero vectors fall back to ``lerp``; for opposite
    vectors the path turns through a fixed direction orthogonal to z0.
    """
    a = _alpha(alpha, z0)
    z0, z1 = torch.broadcast_tensors(z0, z1)
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(z0.dtype).tiny
    u0, u1 = z0 / n0.clamp_min(tiny), z1 / n1.clamp_min(tiny)
    cos = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    # the angle, accurate also when it is tiny or close to pi (acos is not)
    omega = 2 * torch.atan2((u0 - u1).norm(dim=-1, keepdim=True), (u0 + u1).norm(dim=-1, keepdim=True))
    # a unit vector w orthogonal to u0 in the plane of (u0, u1); u(t) = cos(t) u0 + sin(t) w
    w = u1 - cos * u0
    w = torch.where((math.pi - omega) < eps, _orthogonal_to(u0), w / w.norm(dim=-1, keepdim=True).clamp_min(tiny))
    out = ((1 - a) * n0 + a * n1) * (torch.cos(a * omega) * u0 + torch.sin(a * omega) * w)
    # endpoints exactly, and the straight line where the circle is not defined
    parallel = (omega < eps) | (n0 == 0) | (n1 == 0)
    out = torch.where(parallel, lerp(z0, z1, alpha), out)
    return torch.where(a == 1, z1, torch.where(a == 0, z0, out))


def interpolate(z0: torch.Tensor, z1: torch.Tensor, alpha: Alpha, method: str = "spherical") -> torch.Tensor:
    """``lerp`` for ``method="linear"``, ``slerp`` for ``"spherical"``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return (lerp if method == "linear" else slerp)(z0, z1, alpha)


def interpolation_path(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "spherical") -> torch.Tensor:
    """``steps`` latents from z0 to z1 (both included), evenly spaced in alpha: (steps, d)."""
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    z0, z1 = z0.reshape(-1), z1.reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same length, got {z0.numel()} and {z1.numel()}")
    return interpolate(z0, z1, torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device), method)


def sample_latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``n`` latents from N(0, I), the same for the same seed on every machine: (n, z_dim)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def step_lengths(points: torch.Tensor, rms: bool = False) -> torch.Tensor:
    """Euclidean distance between consecutive items of (n, ...), latents (n, d) or videos (n, C, T, H, W):
    (n - 1,). ``rms`` divides by sqrt(values per item): the RMS change of one value, size-independent."""
    flat = points.detach().reshape(points.shape[0], -1).double()
    steps = (flat[1:] - flat[:-1]).norm(dim=1)
    return steps / flat.shape[1] ** 0.5 if rms else steps


def path_length(points: torch.Tensor, rms: bool = False) -> float:
    """The summed step lengths: how far the path travels."""
    return float(step_lengths(points, rms).sum())


def angle(z0: torch.Tensor, z1: torch.Tensor) -> float:
    """The angle between two latents, in degrees."""
    z0, z1 = z0.reshape(-1).double(), z1.reshape(-1).double()
    cos = (z0 @ z1) / (z0.norm() * z1.norm())
    return math.degrees(math.acos(float(cos.clamp(-1, 1))))


class PrincipalDirections(NamedTuple):
    """Orthonormal latent directions, most influential first: ``vectors`` (k, d) and ``explained`` (k,),
    the share of the first layer's response variance each one carries."""

    vectors: torch.Tensor
    explained: torch.Tensor


def principal_directions(G: nn.Module, k: int = 3) -> PrincipalDirections:
    """The k latent directions that move G's first layer the most (PCA of its response); each vector's largest
    component is positive."""
    # G's first layer (BatchNorm in eval mode, both streams stacked) is affine, A z + c; for z ~ N(0, I) its covariance
    # is A A^T: the directions are A's right singular vectors, the variances its squared singular values.
    # A: the linear map from z to G's first (pre-ReLU) activations, BatchNorm included: (m, d)
    rows = []
    for name in ("foreground", "background"):
        trunk = getattr(G, name, None)
        if not isinstance(trunk, nn.Sequential):
            continue
        conv, bn = trunk[0], trunk[1]
        w = conv.weight.detach().double()          # (d, C, *kernel) for a transposed conv
        d, c = w.shape[:2]
        a = w.reshape(d, c, -1)                    # response[c, pos] = sum_d z[d] * w[d, c, pos]
        if isinstance(bn, nn.modules.batchnorm._BatchNorm) and bn.running_var is not None:
            scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
            a = a * scale.view(1, c, 1)
        rows.append(a.reshape(d, -1).T)
    if not rows:
        raise TypeError(f"{type(G).__name__} has no 'foreground'/'background' first layer to analyse")
    A = torch.cat(rows)
    d = A.shape[1]
    if not isinstance(k, int) or not 1 <= k <= d:
        raise ValueError(f"k must be an integer between 1 and {d}, got {k!r}")
    _, s, vh = torch.linalg.svd(A, full_matrices=False)
    v = vh[:k]
    v = v * torch.sign(v.gather(1, v.abs().argmax(dim=1, keepdim=True)))  # largest component positive
    return PrincipalDirections(v.float(), (s[:k] ** 2 / (s ** 2).sum()).float())

