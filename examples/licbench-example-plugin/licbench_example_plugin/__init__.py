"""An example third-party licbench plugin: one codec and one metric, no change to licbench."""

from __future__ import annotations

import io
from typing import Any

import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from licbench.api.codec import Codec, Encoded, Metric, Sample
from licbench.images import pil_to_tensor, tensor_to_pil
from licbench.plugin.hookspecs import hookimpl


class DownsamplePng(Codec):
    """Downsample by ``quality`` (an integer factor), store as lossless PNG, upsample back."""

    name = "downsample-png"

    def compress(self, x: Tensor) -> Encoded:
        h, w = x.shape[-2:]
        f = int(self.quality)
        small = F.interpolate(x, size=(max(1, h // f), max(1, w // f)), mode="area")
        buf = io.BytesIO()
        tensor_to_pil(small).save(buf, format="PNG")
        return Encoded(buf.getvalue(), int(h), int(w))

    def decompress(self, enc: Encoded) -> Tensor:
        small = pil_to_tensor(Image.open(io.BytesIO(enc.payload)).convert("RGB"))
        return F.interpolate(
            small, size=(enc.height, enc.width), mode="bilinear", align_corners=False
        ).clamp(0, 1)


class MeanAbsoluteError(Metric):
    """Mean absolute error on the 0-255 scale."""

    name, higher_is_better, unit = "mae", False, "/255"

    def compute(self, s: Sample) -> float:
        return float((s.x_in - s.x_hat).abs().mean() * 255)


@hookimpl
def register_codecs(register: Any) -> None:
    register("downsample-png", DownsamplePng, description=DownsamplePng.__doc__)


@hookimpl
def register_metrics(register: Any) -> None:
    register("mae", f"{__name__}:MeanAbsoluteError", description=MeanAbsoluteError.__doc__)
