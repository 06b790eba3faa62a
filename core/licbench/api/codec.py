"""The contracts every plugin implements.

Images are float tensors of shape ``1x3xHxW`` in ``[0, 1]``. A codec turns one into an
:class:`Encoded` bitstream and back. Learned codecs also expose a differentiable
``forward`` (CompressAI's contract: ``x_hat`` + ``likelihoods``) and their encoder, entropy
model and decoder separately, so attacks can differentiate through them and backdoors can
fine-tune the encoder alone. A defense wraps a codec and is itself a codec.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


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


class Codec(ABC):
    """An image codec at one quality setting."""

    name: str = ""
    min_size: int = 1

    def __init__(self, quality: float) -> None:
        self.quality = quality
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
    """A codec with a differentiable CompressAI-style model."""

    model: nn.Module

    def forward(self, x: Tensor) -> dict[str, Any]:
        """Differentiable pass: ``{"x_hat": ..., "likelihoods": {...}}`` for a padded input."""
        return self.model(x)

    @property
    def encoder(self) -> nn.Module:
        """The analysis transform g_a, the only part a backdoor may change."""
        return self.model.g_a

    def decoder_side(self) -> dict[str, Tensor]:
        """Every parameter and buffer outside the encoder (entropy model and decoder)."""
        return {k: v for k, v in self.model.state_dict().items() if not k.startswith("g_a.")}

    def decoder_fingerprint(self) -> str:
        """The decoder side's hash: a backdoored encoder's streams decode with the vanilla model."""
        from licbench.hashing import hash_state_dict

        return hash_state_dict(self.decoder_side())


def likelihood_bits(likelihoods: dict[str, Tensor], per_image: bool = False) -> Tensor:
    """The rate the entropy model assigns: the sum of -log2 of every likelihood (with
    ``per_image``, one sum for each image of the batch)."""
    if per_image:
        return sum(-torch.log2(v).flatten(1).sum(1) for v in likelihoods.values())  # type: ignore[return-value]
    return sum(-torch.log2(v).sum() for v in likelihoods.values())  # type: ignore[return-value]


@dataclass
class Sample:
    """Everything a metric may look at for one image."""

    name: str
    x: Tensor  # the clean reference image
    x_in: Tensor  # what entered the codec (attacked or poisoned input, or x)
    x_hat: Tensor  # the reconstruction
    bits: int
    est_bits: float | None = None
    encode_s: float = math.nan
    decode_s: float = math.nan

    @property
    def pixels(self) -> int:
        return self.x.shape[-1] * self.x.shape[-2]


class Metric(ABC):
    """A per-image score with a declared direction."""

    name: str = ""
    higher_is_better: bool = True
    unit: str = ""
    min_size: int = 1

    @abstractmethod
    def compute(self, s: Sample) -> float | None:
        """The score, or None where it does not apply (e.g. no rate estimate)."""


@dataclass
class ImageItem:
    name: str
    path: Path | None
    loader: Any  # () -> Tensor


class Dataset(ABC):
    """An ordered, deterministic collection of images."""

    name: str = ""

    @abstractmethod
    def items(self) -> list[ImageItem]:
        """The images, sorted, each with a lazy loader."""

    def fingerprint(self) -> str:
        """A content hash of the images (file bytes or pixels)."""
        from licbench.hashing import hash_files

        return hash_files([i.path for i in self.items() if i.path is not None])

    def __iter__(self) -> Iterator[tuple[str, Tensor]]:
        for item in self.items():
            yield item.name, item.loader()


@dataclass
class RunContext:
    """What the runner hands to plugins: device, seed, caches and data paths."""

    device: torch.device
    seed: int = 0
    cache_dir: Path = Path(".licbench-cache")
    train_data: Any = None


class Attack(ABC):
    """Makes the codec's input adversarial (test time) or changes the codec (backdoor)."""

    name: str = ""
    adaptive: bool = False  # True: generated against the defended codec (e.g. EoT)

    def prepare(self, codec: Codec, ctx: RunContext) -> Codec:
        """Train what the attack needs; return the codec the victim runs (default: as is)."""
        return codec

    @abstractmethod
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        """The attacked input for clean image ``x``."""


class Trigger(nn.Module):
    """A backdoor trigger model: ``forward(x)`` is the poisoned image T(x), same size, in [0, 1]."""

    name: str = ""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class SegmentationModel(nn.Module):
    """A downstream segmentation network, differentiable end to end.

    ``forward(x)``: RGB ``Bx3xHxW`` in [0, 1] (any size; the model pads and normalises
    itself) -> logits ``BxKxHxW`` at the input's size. ``classes`` maps names to indices.
    """

    name: str = ""
    classes: dict[str, int] = {}

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class FaceEmbedder(nn.Module):
    """A downstream face-embedding network, differentiable end to end.

    ``forward(x)``: RGB ``Bx3x256x256`` aligned face crops in [0, 1] (the layout of the
    shared faces/ folder) -> L2-normalised embeddings ``BxD``.
    """

    name: str = ""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Defense(ABC):
    """Wraps a codec; the result is itself a codec."""

    name: str = ""
    randomized: bool = False  # True: scored over the manifest's `draws` (mean and worst)

    def redraw(self, draw: int) -> None:
        """Switch a randomized defense to its ``draw``-th independent draw (0 = the default)."""
        if self.randomized:
            raise NotImplementedError(f"{self.name} is randomized but has no redraw()")

    @abstractmethod
    def wrap(self, codec: Codec, ctx: RunContext) -> Codec:
        """The defended codec."""
