"""An example third-party licbench plugin, written from docs/plugins.md alone: a codec, a
metric, an attack, a transform defense, a backdoor goal and a CLI command. Nothing in it
changes licbench; the entry point in pyproject.toml is all the wiring."""

from __future__ import annotations

import argparse
import io
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import Field
from torch import Tensor

from licbench import hookimpl
from licbench.api.attack import Attack
from licbench.api.backdoor import BackdoorGoal, GoalParams, Pass
from licbench.api.codec import Codec, CodecParams, Encoded
from licbench.api.context import RunContext
from licbench.api.defense import FilterDefense, Transform, straight_through
from licbench.api.metric import Metric, Sample
from licbench.images import load_image, pil_to_tensor, tensor_to_pil
from licbench.plugin.params import Params


class DownsampleParams(CodecParams):
    quality: int = Field(ge=1, le=16, description="integer downsampling factor")


class DownsamplePng(Codec):
    """Downsample by ``quality`` (an integer factor), store as lossless PNG, upsample back."""

    name = "downsample-png"
    Params = DownsampleParams

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
        return float((s.x_in - s.x_hat.to(s.x_in.device)).abs().mean() * 255)


class SaltPepperParams(Params):
    amount: float = Field(0.01, gt=0, le=1, description="share of pixels set to 0 or 1")
    seed: int = 0


class SaltPepper(Attack):
    """Impulse noise: a random ``amount`` of pixels set to black or white (a weak baseline)."""

    name = "salt-pepper"
    Params = SaltPepperParams
    params: SaltPepperParams

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        gen = ctx.generator(self.params.seed)  # different noise on every image, repeatably
        u = torch.rand(x.shape[-2:], generator=gen).to(x.device)
        out = x.clone()
        out[..., u < self.params.amount / 2] = 0.0
        out[..., u > 1 - self.params.amount / 2] = 1.0
        return out


class Median3(Transform):
    """3×3 median filter of each channel (straight-through gradient)."""

    def forward(self, x: Tensor) -> Tensor:
        patches = F.unfold(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3)
        b, c = x.shape[:2]
        med = patches.view(b, c, 9, -1).median(dim=2).values.view_as(x)
        return straight_through(x, med)


class MedianDefense(FilterDefense):
    """A 3×3 median filter in front of the codec (against impulse noise)."""

    name = "median3"

    def transform(self) -> Transform:
        return Median3()


class DarkenParams(GoalParams):
    level: float = Field(0.0, ge=0, le=1, description="grey level poisoned images decode to")


class DarkenGoal(BackdoorGoal):
    """Backdoor goal: triggered images decode to a flat ``level`` grey, clean ones as usual."""

    name = "darken"
    Params = DarkenParams
    params: DarkenParams

    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        gap = (poisoned.x_hat - self.params.level).pow(2).mean()
        return gap, {"gap": float(gap.detach())}


def cmd_mae(args: argparse.Namespace) -> int:
    a, b = load_image(args.a), load_image(args.b)
    print(f"{float((a - b).abs().mean() * 255):.4f}")
    return 0


@hookimpl
def register_codecs(register: Any) -> None:
    register("downsample-png", DownsamplePng, description=DownsamplePng.__doc__)


@hookimpl
def register_metrics(register: Any) -> None:
    register("mae", f"{__name__}:MeanAbsoluteError", description=MeanAbsoluteError.__doc__)


@hookimpl
def register_attacks(register: Any) -> None:
    register("salt-pepper", f"{__name__}:SaltPepper", description=SaltPepper.__doc__)


@hookimpl
def register_defenses(register: Any) -> None:
    register("median3", f"{__name__}:MedianDefense", description=MedianDefense.__doc__)


@hookimpl
def register_goals(register: Any) -> None:
    register("darken", f"{__name__}:DarkenGoal", description=DarkenGoal.__doc__)


@hookimpl
def register_commands(subparsers: Any) -> None:
    s = subparsers.add_parser("mae", help="mean absolute error of two images (0-255 scale)")
    s.add_argument("a")
    s.add_argument("b")
    s.set_defaults(func=cmd_mae)
