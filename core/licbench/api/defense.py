"""The defense contract: a defense wraps a codec, and the result is itself a codec.

A :class:`TransformDefense` encodes ``t(x)`` for a :class:`Transform` ``t`` it picks per
image and inverts ``t`` after decoding. Transforms are differentiable (straight-through
where the real operation is not), so attacks can differentiate through a defense (BPDA)
and average over a randomized defense's draws (EoT, through :meth:`sample_transform`).
:class:`DefendedCodec` stores the chosen transform's spec in the bitstream, so decoding
needs nothing but the bitstream and :meth:`TransformDefense.transform_from_spec`.

A defense with a single fixed transform (a filter) subclasses :class:`FilterDefense` and
implements :meth:`FilterDefense.transform` alone.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from licbench.api.codec import CellPlugin, Codec, Encoded
from licbench.api.context import RunContext
from licbench.errors import LicbenchError

MAX_GROWTH = 4096  # pixels a transform may add to a side (stretch and shift)


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


class Defense(CellPlugin, ABC):
    """Wraps a codec; the result is itself a codec."""

    name: str = ""
    randomized: bool = False  # True: scored over the manifest's `draws` (mean and worst)
    # the attack that targets what this defense does (Tramèr et al. 2020), by plugin name;
    # None: the white-box standard set (BPDA through straight-through transforms) suffices
    adaptive_attack: str | None = None

    def redraw(self, draw: int) -> None:
        """Switch a randomized defense to its ``draw``-th independent draw (0 = the default)."""
        if self.randomized:
            raise NotImplementedError(f"{self.name} is randomized but has no redraw()")

    @abstractmethod
    def wrap(self, codec: Codec, ctx: RunContext | None = None) -> Codec:
        """The defended codec (``ctx`` is None when ``licbench decompress`` rebuilds it)."""

    def spec(self) -> dict[str, Any]:
        """What rebuilds this defense from the registry (stored in bitstream headers)."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}


class TransformDefense(Defense):
    """Encode ``t(x)``, decode, invert ``t``; ``t`` is chosen per image."""

    def wrap(self, codec: Codec, ctx: RunContext | None = None) -> Codec:
        return DefendedCodec(codec, self)

    @abstractmethod
    def transform_for(self, codec: Codec, x: Tensor) -> Transform:
        """The transform used for image ``x`` (deterministic given the image and params)."""

    @abstractmethod
    def transform_from_spec(self, spec: dict[str, Any]) -> Transform:
        """Rebuild a transform from the spec a bitstream stores."""

    def sample_transform(self, gen: torch.Generator) -> Transform:
        """One draw of the transform distribution, for EoT (a fixed defense: its transform)."""
        raise NotImplementedError(f"{self.name} does not define sample_transform()")


class FilterDefense(TransformDefense):
    """A fixed, one-way transform in front of the codec (a filter, or the identity)."""

    @abstractmethod
    def transform(self) -> Transform:
        """The filter."""

    def transform_for(self, codec: Codec, x: Tensor) -> Transform:
        return self.transform()

    def transform_from_spec(self, spec: dict[str, Any]) -> Transform:
        return self.transform()

    def sample_transform(self, gen: torch.Generator) -> Transform:
        return self.transform()


class DefendedCodec(Codec):
    """``inner`` behind a transform defense: encode ``t(x)``, decode, invert ``t``."""

    def __init__(self, inner: Codec, defense: TransformDefense) -> None:
        super().__init__(inner.quality)
        self.inner, self.defense = inner, defense
        self.name = inner.name
        self.device = inner.device
        self._chosen: dict[int, tuple[weakref.ref[Tensor], Any, Transform]] = {}

    @property
    def family(self) -> str:
        return self.inner.family

    def choose(self, x: Tensor) -> Transform:
        """The transform for this image (deterministic given the image and the seed), chosen
        once: the encode and the rate estimate of one image share it (K-way's choice codes
        the image K times), and so do an attack's steps on each image of its batch. The
        images are held weakly: a choice lives as long as its image tensor."""
        state = (x._version, getattr(self.defense, "draw", None))
        found = self._chosen.get(id(x))
        if found is None or found[0]() is not x or found[1] != state:
            self._chosen = {k: v for k, v in self._chosen.items() if v[0]() is not None}
            found = (weakref.ref(x), state, self.defense.transform_for(self.inner, x))
            self._chosen[id(x)] = found
        return found[2]

    def compress(self, x: Tensor) -> Encoded:
        t = self.choose(x)
        enc = self.inner.compress(t.forward(x).clamp(0, 1))
        meta = {"inner": enc.meta, "transform": t.spec(), "size": [enc.height, enc.width]}
        return Encoded(enc.payload, int(x.shape[-2]), int(x.shape[-1]), meta, bits=enc.bits)

    def decompress(self, enc: Encoded) -> Tensor:
        size, inner = enc.meta.get("size"), enc.meta.get("inner")
        top = max(enc.height, enc.width) + MAX_GROWTH
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and 0 < v <= top for v in size)
            and isinstance(inner, dict)
        ):
            raise LicbenchError(
                f"defended stream with inner size {size!r} for a {enc.width}x{enc.height} "
                "image; re-encode it"
            )
        h, w = size
        y = self.inner.decompress(Encoded(enc.payload, h, w, inner, enc.bits))
        t = self.defense.transform_from_spec(enc.meta.get("transform", {}))
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
