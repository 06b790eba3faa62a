"""`ftrojan`: a fixed, non-adaptive frequency trigger (FTrojan, Wang et al. 2022) for reference.

The same two mid/high-frequency coefficients of every 8×8 block of every channel are raised
by a fixed magnitude, chosen so that MSE(T(x), x) = ε² before clipping. Nothing is learned.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from licbench.api.backdoor import Trigger
from licbench_builtin.backdoor.params import FTrojanParams
from licbench_builtin.backdoor.triggers.blockdct import block_dct, block_idct, pad_to


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
