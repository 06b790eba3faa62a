"""Run a codec's full-resolution transforms on large images in horizontal bands.

The analysis and synthesis transforms (``g_a``, ``g_s``) dominate the memory of coding a
large photo: their outer layers hold N channels at half resolution. Both are local
(convolutions, GDN, local attention), so a band of output rows depends only on a band of
input rows. :func:`reach` finds how far, by the support of an input gradient on a small
probe, and :func:`banded` then runs the module band by band: the result equals the
whole-image pass up to float rounding, with the peak memory of one band.

Only inference on large images is split (``torch.is_grad_enabled()`` false and more than
:data:`MIN_PIXELS` full-resolution pixels): ordinary images, and every gradient through a
codec, take the whole-image path. The hyper transforms are never split, so encoder and
decoder compute the same entropy parameters.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

MIN_PIXELS = 4 * 2**20  # larger images (full resolution) are coded in bands
BAND_PIXELS = 2**20  # full-resolution pixels in the core of one band
PROBE_ROWS = 64  # low-resolution rows of the probe

Forward = Callable[[Tensor], Tensor]


def reach(forward: Forward, like: Tensor, scale: float) -> int:
    """Input rows on either side of an output row's position that can change it.

    ``scale`` is output rows per input row: 1/16 for an encoder, 16 for a decoder.
    """
    rows = round(PROBE_ROWS / scale) if scale < 1 else PROBE_ROWS
    cols = 64 if scale < 1 else 4
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, like.shape[1], rows, cols, generator=gen)
    x = x.to(like.device, like.dtype).requires_grad_(True)
    with torch.enable_grad():
        y = forward(x)
        mid = y.shape[-2] // 2
        (grad,) = torch.autograd.grad(y[..., mid, :].sum(), x)
    support = grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    lo, hi = int(support.min()), int(support.max())
    if lo == 0 or hi == rows - 1:
        raise ValueError(f"the transform reaches past a {rows}-row probe; it is not local")
    centre = mid / scale
    return math.ceil(max(centre - lo, hi - centre)) + 1


def banded(forward: Forward, x: Tensor, scale: float, rows: int, step: int) -> Tensor:
    """``forward(x)`` on bands of ``step`` input rows, each read with ``rows`` rows of halo."""
    h = x.shape[-2]
    out = []
    for start in range(0, h, step):
        lo, hi = max(start - rows, 0), min(start + step + rows, h)
        y = forward(x[..., lo:hi, :])
        a, b = round((start - lo) * scale), round((min(start + step, h) - lo) * scale)
        out.append(y[..., a:b, :].clone())
        del y
    return torch.cat(out, dim=-2)


def _large(forward: Forward, scale: float, unit: int) -> Forward:
    """``forward``, split into bands when it runs without gradients on a large image."""
    halo: list[int] = []

    def run(x: Tensor) -> Tensor:
        full_h, full_w = (d * max(scale, 1.0) for d in x.shape[-2:])
        if torch.is_grad_enabled() or full_h * full_w <= MIN_PIXELS:
            return forward(x)
        if not halo:
            halo.append(-(-reach(forward, x, scale) // unit) * unit)
        step = max(unit, int(BAND_PIXELS / full_w / max(scale, 1.0)) // unit * unit)
        if step + 2 * halo[0] >= x.shape[-2]:
            return forward(x)
        return banded(forward, x, scale, halo[0], step)

    return run


@contextlib.contextmanager
def bands(model: nn.Module, factor: int) -> Iterator[None]:
    """While open, ``model.g_a`` and ``model.g_s`` code large images in bands.

    ``factor`` is the transforms' total stride (bands of ``g_a`` start on its grid).
    """
    patched = []
    for name, scale, unit in (("g_a", 1 / factor, factor), ("g_s", float(factor), 1)):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            module.forward = _large(module.forward, scale, unit)  # type: ignore[method-assign]
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # the class's forward again
