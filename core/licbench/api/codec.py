"""The codec contract (CompressAI's, for learned codecs).

Images are float tensors of shape ``1x3xHxW`` in ``[0, 1]``. A codec turns one into an
:class:`Encoded` bitstream and back. A :class:`LearnedCodec` also exposes a differentiable
``forward`` (``x_hat`` + ``likelihoods``), its encoder g_a, its decoder side, the model's
``downsampling_factor`` and ``pad_multiple`` (what an input is padded to), so attacks can
differentiate through it and backdoors can fine-tune the encoder alone.

Codecs are built as ``cls(quality=q, **params)``; ``quality`` is a field of their
``Params`` model, so its range is checked by ``licbench validate``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from licbench.api.params import CodecParams
from licbench.hashing import hash_state_dict
from licbench.plugin.params import Configurable
from licbench.rd import DOWNSAMPLING


@dataclass
class Encoded:
    """A bitstream plus what the decoder needs besides the codec itself."""

    payload: bytes
    height: int
    width: int
    meta: dict[str, Any] = field(default_factory=dict)
    bits: int | None = None  # entropy-coded bits; defaults to the whole payload

    def num_bits(self) -> int:
        return self.bits if self.bits is not None else 8 * len(self.payload)




class Codec(Configurable, ABC):
    """An image codec at one quality setting."""

    Params = CodecParams
    params: CodecParams
    name: str = ""
    min_size: int = 1

    def __init__(self, quality: float, **params: Any) -> None:
        super().__init__(quality=quality, **params)
        q = self.params.quality
        self.quality: float = int(q) if float(q).is_integer() else q
        self.device = torch.device("cpu")

    @abstractmethod
    def compress(self, x: Tensor) -> Encoded:
        """Encode a ``1x3xHxW`` image in [0, 1]."""

    @abstractmethod
    def decompress(self, enc: Encoded) -> Tensor:
        """Decode to a ``1x3xHxW`` image in [0, 1] of the original size."""

    def spec(self) -> dict[str, Any]:
        """What rebuilds this codec from the registry: name, quality, params."""
        return {"codec": self.name, "quality": self.quality, "params": {}}

    def key_extras(self) -> dict[str, Any]:
        """What enters the key of this codec's cells besides its params: bump it when a
        change of the codec's code changes its results (default: nothing)."""
        return {}

    def fingerprint(self) -> str:
        """A hash of the weights (empty for codecs without weights)."""
        return ""

    def decoder_fingerprint(self) -> str:
        """A hash of what decoding needs; a bitstream decodes wherever this matches."""
        return self.fingerprint()

    def estimate_bits(self, x: Tensor) -> float | None:
        """Rate estimated without entropy coding, where the codec has a model of it."""
        return None

    def to(self, device: str | torch.device) -> Codec:
        self.device = torch.device(device)
        return self

    @property
    def family(self) -> str:
        """The leaderboard groups codecs by family (an architecture, or the codec name)."""
        return self.name


class LearnedCodec(Codec):
    """A codec with a differentiable CompressAI-style model ``self.model``."""

    model: nn.Module

    def forward(self, x: Tensor) -> dict[str, Any]:
        """Differentiable pass: ``{"x_hat": ..., "likelihoods": {...}}`` for a padded input."""
        return self.model(x)

    @property
    def downsampling_factor(self) -> int:
        """The model's total stride: inputs are padded to a multiple of it."""
        return int(getattr(self.model, "downsampling_factor", DOWNSAMPLING))

    @property
    def pad_multiple(self) -> int:
        """What inputs are padded to: CompressAI's evaluation pads every model to a multiple
        of 64 (the largest stride of its zoo), and licbench agrees with it."""
        return max(self.downsampling_factor, DOWNSAMPLING)

    @property
    def encoder(self) -> nn.Module:
        """The analysis transform g_a, the only part a backdoor may change."""
        return cast(nn.Module, self.model.g_a)

    def with_model(self, model: nn.Module) -> LearnedCodec:
        """A copy of this codec running ``model`` (a tuned or backdoored copy of its own)."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__dict__)
        out.model = model.to(self.device).eval()
        out.__dict__.pop("_fingerprint", None)
        return out

    def decoder_side(self) -> dict[str, Tensor]:
        """Every parameter and buffer outside the encoder (entropy model and decoder)."""
        return {k: v for k, v in self.model.state_dict().items() if not k.startswith("g_a.")}

    def fingerprint(self) -> str:
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = hash_state_dict(self.model.state_dict())
        return self._fingerprint

    def decoder_fingerprint(self) -> str:
        """The decoder side's hash: a backdoored encoder's streams decode with the vanilla model."""
        return hash_state_dict(self.decoder_side())


class CellPlugin(Configurable):
    """What attacks and defenses share: which codecs they apply to, what keys their cells."""

    name: str = ""

    @classmethod
    def applies_to(cls, codec: type[Codec]) -> bool:
        """Whether cells of this plugin on codecs of class ``codec`` exist at all (default:
        every codec); the matrix leaves out the others and ``licbench validate`` counts them."""
        return True

    def key_extras(self) -> dict[str, Any]:
        """What enters the key of this plugin's cells besides its params: bump it when a
        change of the plugin's code changes its results (default: nothing)."""
        return {}
