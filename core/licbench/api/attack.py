"""The attack contract: test-time adversarial inputs, or a codec changed by training."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor

from licbench.api.codec import CellPlugin, Codec
from licbench.api.context import RunContext


class Attack(CellPlugin, ABC):
    """Makes the codec's input adversarial. An attack that trains something (a backdoor)
    also implements :class:`licbench.api.artifact.Trained`."""

    name: str = ""
    adaptive: bool = False  # True: generated against the defended codec (e.g. EoT)
    kind: str = "adversarial"  # "backdoor": a trained change of the codec, with triggers

    def variant(self) -> str | None:
        """A backdoor: the trigger it applies at test time, or ``"clean"`` for none."""
        return None

    @abstractmethod
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        """The attacked input for clean image ``x`` (``ctx.generator()`` for randomness)."""
