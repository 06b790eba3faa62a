"""Pre-processing defenses (Yu et al. Table 5; common baselines): the image is filtered
before the codec sees it. Gradients pass the blur exactly and the rounding of bit
squeezing and JPEG straight through (BPDA), so attacks can be generated against them."""

from __future__ import annotations

import io
import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from licbench.api.defense import FilterDefense, Transform, straight_through
from licbench.images import pil_to_tensor, tensor_to_pil
from licbench_builtin.defenses.params import BlurParams, JpegParams, SqueezeParams


class Blur(Transform):
    def __init__(self, sigma: float) -> None:
        radius = max(1, math.ceil(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32, device="cpu")  # moved by forward
        k = torch.exp(-(t**2) / (2 * sigma**2))
        self.kernel, self.radius = k / k.sum(), radius

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel.to(x)
        c = x.shape[1]
        mode = "reflect" if min(x.shape[-2:]) > self.radius else "replicate"
        y = F.pad(x, [self.radius] * 4, mode=mode)
        y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class Squeeze(Transform):
    def __init__(self, bits: int, ste: bool = True) -> None:
        self.levels, self.ste = 2**bits - 1, ste

    def forward(self, x: Tensor) -> Tensor:
        y = torch.round(x.clamp(0, 1) * self.levels) / self.levels
        return straight_through(x, y) if self.ste else y


class Jpeg(Transform):
    def __init__(self, quality: int) -> None:
        self.quality = quality

    def forward(self, x: Tensor) -> Tensor:
        out = []
        for img in x.detach():
            buf = io.BytesIO()
            tensor_to_pil(img[None]).save(buf, format="JPEG", quality=self.quality)
            with Image.open(buf) as decoded:
                out.append(pil_to_tensor(decoded.convert("RGB")))
        return straight_through(x, torch.cat(out).to(x))








class GaussianBlurDefense(FilterDefense):
    """Gaussian blur of standard deviation ``sigma`` pixels before encoding."""

    name = "gaussian-blur"
    Params = BlurParams
    params: BlurParams

    def transform(self) -> Transform:
        return Blur(self.params.sigma)


class BitSqueezeDefense(FilterDefense):
    """Reduce every channel to ``bits`` bits before encoding (feature squeezing)."""

    name = "bit-squeeze"
    Params = SqueezeParams
    params: SqueezeParams

    def transform(self) -> Transform:
        return Squeeze(self.params.bits, self.params.straight_through)


class JpegPurifyDefense(FilterDefense):
    """Re-encode with JPEG at ``quality`` before the learned codec."""

    name = "jpeg-purify"
    Params = JpegParams
    params: JpegParams

    def transform(self) -> Transform:
        return Jpeg(self.params.quality)
