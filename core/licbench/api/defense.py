"""Defenses as codecs: a defense wraps a codec in invertible (or one-way) image transforms.

A :class:`Transform` maps the image before encoding and back after decoding; it is
differentiable (with a straight-through gradient where the real operation is not), so that
attacks can differentiate through a defense (BPDA) and average over a randomized defense's
draws (EoT). A :class:`DefendedCodec` stores the transform it used in the bitstream's
metadata, so decoding needs nothing but the bitstream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from licbench.api.codec import Codec, Encoded, LearnedCodec


class Transform(ABC):
    """An image transform applied before encoding, with its inverse applied after decoding."""

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """The image that is encoded (differentiable, or straight-through)."""

    def inverse(self, y: Tensor, size: tuple[int, int]) -> Tensor:
        """Back to the original geometry ``size`` (H, W); identity by default."""
        return y

    def spec(self) -> dict[str, Any]:
        """JSON-able description stored in the bitstream; ``transform_from_spec`` rebuilds it."""
        return {}


class Identity(Transform):
    def forward(self, x: Tensor) -> Tensor:
        return x


def straight_through(x: Tensor, y: Tensor) -> Tensor:
    """``y`` in the forward pass, the identity's gradient in the backward pass (BPDA)."""
    return x + (y - x).detach()


class DefendedCodec(Codec):
    """``inner`` behind a defense: encode ``t(x)``, decode, invert ``t``."""

    def __init__(self, inner: Codec, defense: Any) -> None:
        super().__init__(inner.quality)
        self.inner, self.defense = inner, defense
        self.name = inner.name
        self.device = inner.device

    @property
    def family(self) -> str:
        return self.inner.family

    def choose(self, x: Tensor) -> Transform:
        """The transform for this image (deterministic given the image and the seed)."""
        return self.defense.transform_for(self.inner, x)

    def compress(self, x: Tensor) -> Encoded:
        t = self.choose(x)
        enc = self.inner.compress(t.forward(x).clamp(0, 1))
        meta = {"inner": enc.meta, "transform": t.spec(), "size": [enc.height, enc.width]}
        return Encoded(enc.payload, int(x.shape[-2]), int(x.shape[-1]), meta, bits=enc.bits)

    def decompress(self, enc: Encoded) -> Tensor:
        h, w = enc.meta["size"]
        y = self.inner.decompress(Encoded(enc.payload, h, w, enc.meta["inner"], enc.bits))
        t = self.defense.transform_from_spec(enc.meta["transform"])
        return t.inverse(y, (enc.height, enc.width)).clamp(0, 1)

    def estimate_bits(self, x: Tensor) -> float | None:
        return self.inner.estimate_bits(self.choose(x).forward(x).clamp(0, 1))

    def spec(self) -> dict[str, Any]:
        return {**self.inner.spec(), "defense": self.defense.spec()}

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def decoder_fingerprint(self) -> str:
        return self.inner.decoder_fingerprint()

    def to(self, device: str | torch.device) -> DefendedCodec:
        self.inner.to(device)
        self.device = self.inner.device
        return self

    @property
    def learned(self) -> LearnedCodec | None:
        return self.inner if isinstance(self.inner, LearnedCodec) else None
