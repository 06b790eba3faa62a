"""The built-in defenses' parameter models, free of torch (validate and `plugins --params`
read them without importing the defenses)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from licbench.plugin.params import DatasetRef, Params


class BlurParams(Params):
    header_safe = ("sigma",)
    sigma: float = Field(1.0, gt=0, le=32, description="standard deviation in pixels")


class SqueezeParams(Params):
    header_safe = ("bits", "straight_through")
    bits: int = Field(5, ge=1, le=8, description="bits kept per channel")
    straight_through: bool = Field(
        True,
        description="attacks see the identity's gradient (BPDA); false: rounding's own zero "
        "gradient, a gradient-masking defense that licbench audit flags",
    )


class JpegParams(Params):
    header_safe = ("quality",)
    quality: int = Field(75, ge=1, le=95, description="JPEG quality of the purification")


class RandomizedParams(Params):
    header_safe: ClassVar[tuple[str, ...]] = ("seed", "max_stretch", "max_shift")
    seed: int = Field(0, description="salt of the per-image draws")
    max_stretch: int = Field(64, ge=0, le=1024, description="largest stretch per axis, px")
    max_shift: int = Field(64, ge=0, le=1024, description="largest shift per axis, px")


class KWayParams(RandomizedParams):
    header_safe = (*RandomizedParams.header_safe, "k")
    k: int = Field(2, ge=1, le=64, description="candidates: the identity and k-1 draws")


class FinetuneConfig(Params):
    """Everything that determines the tuned weights (besides the victim and the data)."""

    header_safe = ("eps", "steps", "batch_size", "patch_size", "lr", "seed")

    eps: float = Field(4 / 255, gt=0, le=1, description="L∞ budget of the FGSM-RS inputs")
    steps: int = Field(1000, ge=1, description="training steps")
    batch_size: int = Field(8, ge=1)
    patch_size: int = Field(128, ge=64, multiple_of=64, description="crop size (codec stride)")
    lr: float = Field(1e-5, gt=0, description="learning rate")
    seed: int = 0


class FinetuneParams(FinetuneConfig):
    train_data: DatasetRef | None = Field(
        None, description="dataset to train on (default: the manifest's train_data, else BSDS500)"
    )
