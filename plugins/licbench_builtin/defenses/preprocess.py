"""Pre-processing defenses (Yu et al. Table 5; common baselines): the image is filtered
before the codec sees it. Gradients pass the blur exactly and the rounding of bit
squeezing and JPEG straight through (BPDA), so attacks can be generated against them."""

from __future__ import annotations

import io
import math
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from licbench.api.codec import Codec, Defense, RunContext
from licbench.api.defense import DefendedCodec, Transform, straight_through
from licbench.errors import LicbenchError
from licbench.images import pil_to_tensor, tensor_to_pil
from licbench.plugin.hookspecs import hookimpl


class Blur(Transform):
    def __init__(self, sigma: float) -> None:
        radius = max(1, math.ceil(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32)
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
    def __init__(self, bits: int) -> None:
        self.levels = 2**bits - 1

    def forward(self, x: Tensor) -> Tensor:
        return straight_through(x, torch.round(x.clamp(0, 1) * self.levels) / self.levels)


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


class PreprocessDefense(Defense):
    """A fixed transform in front of the codec: a one-way filter (or the identity)."""

    def __init__(self, transform: Transform, **params: Any) -> None:
        self.transform, self.params = transform, params

    def wrap(self, codec: Codec, ctx: RunContext | None = None) -> Codec:
        return DefendedCodec(codec, self)

    def transform_for(self, codec: Codec, x: Tensor) -> Transform:
        return self.transform

    def transform_from_spec(self, spec: dict[str, Any]) -> Transform:
        return self.transform

    def sample_transform(self, gen: torch.Generator) -> Transform:
        """What EoT averages over: here always the same filter."""
        return self.transform

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}


class GaussianBlurDefense(PreprocessDefense):
    """Gaussian blur of standard deviation ``sigma`` pixels before encoding."""

    name = "gaussian-blur"

    def __init__(self, sigma: float = 1.0) -> None:
        if sigma <= 0:
            raise LicbenchError(f"gaussian-blur sigma must be positive, not {sigma}")
        super().__init__(Blur(sigma), sigma=sigma)


class BitSqueezeDefense(PreprocessDefense):
    """Reduce every channel to ``bits`` bits before encoding (feature squeezing)."""

    name = "bit-squeeze"

    def __init__(self, bits: int = 5) -> None:
        if not 1 <= bits <= 8:
            raise LicbenchError(f"bit-squeeze bits must lie in 1..8, not {bits}")
        super().__init__(Squeeze(bits), bits=bits)


class JpegPurifyDefense(PreprocessDefense):
    """Re-encode with JPEG at ``quality`` before the learned codec."""

    name = "jpeg-purify"

    def __init__(self, quality: int = 75) -> None:
        if not 1 <= quality <= 95:
            raise LicbenchError(f"jpeg-purify quality must lie in 1..95, not {quality}")
        super().__init__(Jpeg(quality), quality=quality)


@hookimpl
def register_defenses(register: Any) -> None:
    for cls in (GaussianBlurDefense, BitSqueezeDefense, JpegPurifyDefense):
        register(cls.name, f"{__name__}:{cls.__name__}", description=cls.__doc__)
