"""`ftrojan`: a fixed, non-adaptive frequency trigger (FTrojan, Wang et al. 2022) for reference.

The same two mid/high-frequency coefficients of every 8×8 block of every channel are raised
by a fixed magnitude, chosen so that MSE(T(x), x) = ε² before clipping. Nothing is learned.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field
from torch import Tensor

from licbench.api.backdoor import Trigger
from licbench.plugin.params import Params
from licbench_builtin.backdoor.triggers.blockdct import block_dct, block_idct, pad_to


class FTrojanParams(Params):
    eps: float = Field(0.005, gt=0, le=1, description="RMS of the change before clipping")
    positions: list[tuple[int, int]] = Field(
        [(4, 7), (7, 4)], min_length=1, description="raised (u, v) of each 8x8 block"
    )


class FTrojanTrigger(Trigger):
    name = "ftrojan"
    Params = FTrojanParams
    params: FTrojanParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        eps, self.positions = self.params.eps, [tuple(p) for p in self.params.positions]
        # orthonormal 8x8 blocks: MSE = len(positions) * m^2 / 64
        self.magnitude = eps * math.sqrt(64 / len(self.positions))

    def forward(self, x: Tensor) -> Tensor:
        xp, (h, w) = pad_to(x, 8)
        coeffs = block_dct(xp, 8)
        for u, v in self.positions:
            coeffs[..., u, v] += self.magnitude
        return block_idct(coeffs)[..., :h, :w].clamp(0, 1)
