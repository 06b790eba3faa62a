"""The metric contract: a per-image score with a declared direction."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import Tensor

from licbench.plugin.params import Configurable


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


class Metric(Configurable, ABC):
    """A per-image score; ``name`` is its column in the results database."""

    name: str = ""
    higher_is_better: bool = True
    unit: str = ""
    min_size: int = 1  # smallest image side it is defined on

    @abstractmethod
    def compute(self, s: Sample) -> float | None:
        """The score, or None where it does not apply (e.g. no rate estimate)."""
