"""Orthonormal block DCT-II on image tensors, vectorised over all blocks (no Python loops)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def dct_matrix(n: int, like: Tensor) -> Tensor:
    """The n×n orthonormal DCT-II matrix C (rows are basis vectors; C @ C.T = I), built in
    float64 on the CPU (n² cosines: no cache holds a tensor across runs and devices)."""
    k = torch.arange(n, dtype=torch.float64, device="cpu")[:, None]
    i = torch.arange(n, dtype=torch.float64, device="cpu")[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    c[0] /= math.sqrt(2.0)
    return c.to(device=like.device, dtype=like.dtype)


def to_blocks(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) with H, W multiples of p -> (B, C, H/p, W/p, p, p)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // p, p, w // p, p).permute(0, 1, 2, 4, 3, 5)


def from_blocks(blocks: Tensor) -> Tensor:
    b, c, nh, nw, p, _ = blocks.shape
    return blocks.permute(0, 1, 2, 4, 3, 5).reshape(b, c, nh * p, nw * p)


def block_dct(x: Tensor, p: int) -> Tensor:
    """2-D DCT of every non-overlapping p×p block: (B, C, H/p, W/p, p, p) coefficients."""
    m = dct_matrix(p, x)
    return m @ to_blocks(x, p) @ m.T


def block_idct(coeffs: Tensor) -> Tensor:
    """Inverse of :func:`block_dct`, back to (B, C, H, W)."""
    m = dct_matrix(coeffs.shape[-1], coeffs)
    return from_blocks(m.T @ coeffs @ m)


def zigzag(p: int) -> list[tuple[int, int]]:
    """JPEG zig-zag order of a p×p block's frequencies, lowest first."""
    order = sorted(
        ((u, v) for u in range(p) for v in range(p)),
        key=lambda uv: (uv[0] + uv[1], uv[1] if (uv[0] + uv[1]) % 2 else uv[0]),
    )
    return order


def pad_to(x: Tensor, p: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad the bottom and right edges to multiples of p; return the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % p, (-w) % p
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
