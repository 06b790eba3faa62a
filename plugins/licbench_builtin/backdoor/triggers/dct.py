"""`dct-adaptive`: the image-adaptive frequency trigger of Yu et al. (CVPR 2023, §3.2).

Each p×p patch of each channel is moved to the DCT domain, t = g ⊙ w is added to its
coefficients, and the patch is moved back. ``g`` is a learned general trigger on ``n_freq``
middle frequencies (of which the ``k`` largest in magnitude are kept, unless ``topk`` is
off); ``w`` is a per-patch weight predicted from a global feature of the image (1 for every
patch when ``patch_weight`` is off). Design choices the paper leaves open are documented in
docs/backdoors.md.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from licbench.api.backdoor import Trigger
from licbench_builtin.backdoor.params import DCTParams
from licbench_builtin.backdoor.triggers.blockdct import block_dct, block_idct, pad_to, zigzag


class PatchWeightNet(nn.Module):
    """Per-patch weights from local features modulated by a global image feature."""

    def __init__(self, patch: int, width: int = 32) -> None:
        super().__init__()
        self.local = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(patch),  # one feature vector per patch
        )
        self.glob = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(2 * width, 1, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None  # Conv2d(bias=True)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        f = self.local(x)  # (B, width, H/p, W/p)
        g = self.glob(f.mean(dim=(2, 3)))[:, :, None, None].expand_as(f)
        return 2 * torch.sigmoid(self.head(torch.cat([f, g], 1)))  # (B, 1, H/p, W/p), 1 at init




class DCTAdaptiveTrigger(Trigger):
    name = "dct-adaptive"
    Params = DCTParams
    params: DCTParams
    band: Tensor  # buffer

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        patch, n_freq, k, start, topk, seed = p.patch, p.n_freq, p.k, p.start, p.topk, p.seed
        init_scale, patch_weight = p.init_scale, p.patch_weight
        order = zigzag(patch)[start : start + n_freq]
        self.patch, self.k, self.topk = patch, k, topk
        self.register_buffer("band", torch.tensor([u * patch + v for u, v in order]))
        gen = torch.Generator().manual_seed(seed)
        self.g = nn.Parameter(init_scale * torch.randn(3, n_freq, generator=gen))
        self.weight_net = PatchWeightNet(patch) if patch_weight else None

    def general_trigger(self) -> Tensor:
        """g restricted to its top-K frequencies per channel: (3, n_freq)."""
        if not self.topk:
            return self.g
        keep = self.g.abs().topk(self.k, dim=1).indices
        mask = torch.zeros_like(self.g).scatter_(1, keep, 1.0)
        return self.g * mask

    def forward(self, x: Tensor) -> Tensor:
        xp, (h, w) = pad_to(x, self.patch)
        coeffs = block_dct(xp, self.patch)  # (B, 3, nh, nw, p, p)
        b, c, nh, nw, p, _ = coeffs.shape
        flat = coeffs.reshape(b, c, nh, nw, p * p)
        t = torch.zeros(c, p * p, device=x.device, dtype=x.dtype)
        t = t.index_copy(1, self.band, self.general_trigger().to(x.dtype))
        t = t[None, :, None, None, :]  # broadcast over batch and patches
        if self.weight_net is not None:
            t = t * self.weight_net(xp)[:, :, :, :, None]  # (B, 1, nh, nw, 1)
        poisoned = block_idct((flat + t).reshape(b, c, nh, nw, p, p))
        return poisoned[..., :h, :w].clamp(0, 1)
