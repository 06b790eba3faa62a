"""`lira-unet`: LIRA's trigger generator (Doan et al. 2021) as used by Yu et al. §4.1.

T(x) = x + ε · tanh(U(x)) with a small U-Net U, so |T(x) − x| ≤ ε everywhere.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.backdoor import Trigger
from licbench_builtin.backdoor.params import LiraParams
from licbench_builtin.backdoor.triggers.blockdct import pad_to


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Two-level U-Net: 16-32-64 channels, skip connections, 3 output channels."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.d1, self.d2, self.mid = _block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.u2, self.u1 = _block(6 * w, 2 * w), _block(3 * w, w)
        self.out = nn.Conv2d(w, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        b = self.u2(torch.cat([F.interpolate(m, size=b.shape[-2:]), b], 1))
        a = self.u1(torch.cat([F.interpolate(b, size=a.shape[-2:]), a], 1))
        return self.out(a)




class LiraTrigger(Trigger):
    name = "lira-unet"
    Params = LiraParams
    params: LiraParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.eps = self.params.eps
        with torch.random.fork_rng():
            torch.manual_seed(self.params.seed)
            self.net = UNet(self.params.width)

    def forward(self, x: Tensor) -> Tensor:
        xp, (h, w) = pad_to(x, 4)
        delta = self.eps * torch.tanh(self.net(xp))[..., :h, :w]
        return (x + delta).clamp(0, 1)
