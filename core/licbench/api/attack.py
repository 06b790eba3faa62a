"""The attack contract: test-time adversarial inputs, or a codec changed by training."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from torch import Tensor

from licbench.api.codec import Codec
from licbench.api.context import RunContext
from licbench.plugin.params import Configurable


class Attack(Configurable, ABC):
    """Makes the codec's input adversarial. An attack that trains something (a backdoor)
    also implements :class:`licbench.api.artifact.Trained`."""

    name: str = ""
    adaptive: bool = False  # True: generated against the defended codec (e.g. EoT)

    @classmethod
    def applies_to(cls, codec: type[Codec]) -> bool:
        """Whether cells of this plugin on codecs of class ``codec`` exist at all (default:
        every codec); the matrix leaves out the others and ``licbench validate`` counts them."""
        return True

    def key_extras(self) -> dict[str, Any]:
        """What enters the key of this plugin's cells besides its params: bump it when a
        change of the plugin's code changes its results (default: nothing)."""
        return {}

    @abstractmethod
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        """The attacked input for clean image ``x`` (``ctx.generator()`` for randomness)."""
