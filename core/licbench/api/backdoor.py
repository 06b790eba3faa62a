"""The backdoor contracts (Yu et al., CVPR 2023): a trigger model and a backdoor goal.

A :class:`Trigger` maps an image x to its poisoned copy T(x). A :class:`BackdoorGoal` turns
the codec's outputs on a clean batch and on its poisoned copy (two :class:`Pass` es) into
one loss term L_o, minimised by the encoder with weight ``alpha`` and by the trigger (Eq. 9).
Goals are their own plugin kind (``register_goals``); training objectives are not plugins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from licbench.api.params import GoalParams
from licbench.plugin.params import Configurable, ParamsModel
from licbench.rd import image_bpp


class Trigger(nn.Module):
    """A trigger model: ``forward(x)`` is the poisoned image T(x), same size, in [0, 1]."""

    Params: ClassVar[type[ParamsModel]] = ParamsModel
    name: str = ""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.params = self.Params.model_validate(params)

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Pass:
    """A codec forward pass on a batch: input, reconstruction, estimated bpp of each image."""

    x: Tensor
    x_hat: Tensor
    image_bpp: Tensor

    @classmethod
    def run(cls, model: torch.nn.Module, x: Tensor) -> Pass:
        out = model(x)
        return cls(x, out["x_hat"], image_bpp(out["likelihoods"], x))

    @property
    def bpp(self) -> Tensor:
        """Estimated bpp of the batch."""
        return self.image_bpp.mean()




class BackdoorGoal(Configurable, ABC):
    """One attack objective; ``alpha`` weighs it in the encoder's loss (Eq. 9)."""

    Params = GoalParams
    params: GoalParams
    name: str = ""
    default_alpha: float = 1.0
    default_beta: float = 0.0

    @property
    def alpha(self) -> float:
        return self.default_alpha if self.params.alpha is None else self.params.alpha

    @property
    def beta(self) -> float:
        return self.default_beta if self.params.beta is None else self.params.beta

    def region(self, x: Tensor) -> Tensor | None:
        """Where the trigger applies (a 0/1 mask like x), or None for everywhere."""
        return None

    @abstractmethod
    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        """L_o and scalars to log."""
