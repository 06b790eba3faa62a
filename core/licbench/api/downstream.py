"""Downstream task models (frozen, differentiable end to end), used by goals and metrics."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from licbench.plugin.params import ParamsModel


class DownstreamModel(nn.Module):
    """Base of every downstream model kind; the registry builds it with no parameters."""

    Params: ClassVar[type[ParamsModel]] = ParamsModel
    name: str = ""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class SegmentationModel(DownstreamModel):
    """``forward(x)``: RGB ``Bx3xHxW`` in [0, 1] (any size; the model pads and normalises
    itself) -> logits ``BxKxHxW`` at the input's size. ``classes`` maps names to indices."""

    classes: dict[str, int] = {}


class FaceEmbedder(DownstreamModel):
    """``forward(x)``: RGB ``Bx3x256x256`` aligned face crops in [0, 1] -> L2-normalised
    embeddings ``BxD``."""
