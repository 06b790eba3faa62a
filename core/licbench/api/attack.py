"""The attack contract: test-time adversarial inputs, or a codec changed by training."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from licbench.api.codec import CellPlugin, Codec
from licbench.api.context import RunContext
from licbench.api.quantization import DELIVERY, PROXIES, Proxy

__all__ = ["PROXIES", "Attack", "DELIVERY", "Proxy", "deliver"]


class Attack(CellPlugin, ABC):
    """Makes the codec's input adversarial. An attack that trains something (a backdoor)
    also implements :class:`licbench.api.artifact.Trained`."""

    name: str = ""
    adaptive: bool = False  # True: generated against the defended codec (e.g. EoT)
    kind: str = "adversarial"  # "backdoor": a trained change of the codec, with triggers
    batched: bool = False  # True: perturb_batch attacks several images per forward/backward

    def budget(self) -> float | None:
        """The L∞ budget its outputs must keep after delivery (``params.eps``), if any."""
        eps = getattr(self.params, "eps", None)
        return float(eps) if isinstance(eps, (int, float)) else None

    def variant(self) -> str | None:
        """A backdoor: the trigger it applies at test time, or ``"clean"`` for none."""
        return None

    @abstractmethod
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        """The attacked input for clean image ``x`` (``ctx.generator()`` for randomness)."""

    def perturb_batch(self, codec: Codec, x: Tensor, ctxs: Sequence[RunContext]) -> Tensor:
        """The attacked inputs for a batch of same-size clean images, ``ctxs[i]`` the context
        of image ``i``. Each image's result must be :meth:`perturb`'s for it alone: its own
        random draws (``ctx.generator``, ``ctx.model_generator``), step sizes, kept iterate
        and real bitstream. The runner sends several images only where ``batched`` is set;
        this default runs them one at a time."""
        return torch.cat([self.perturb(codec, x[i : i + 1], c) for i, c in enumerate(ctxs)])



def deliver(x_adv: Tensor, x: Tensor, eps: float | None = None, bits: int = 8) -> Tensor:
    """An attacked image as a file carries it: on the ``2**bits`` grid, inside [0, 1], and
    within ``eps`` (L∞) of the clean image ``x``, itself on the grid, after rounding (the
    budget is taken down to whole grid steps)."""
    levels = 2**bits - 1
    out = torch.round(x_adv.detach().clamp(0, 1) * levels) / levels
    if eps is not None and eps < 1:
        step = math.floor(eps * levels + 1e-6) / levels
        base = torch.round(x.detach().to(out) * levels) / levels
        out = torch.minimum(torch.maximum(out, base - step), base + step).clamp(0, 1)
    return out
