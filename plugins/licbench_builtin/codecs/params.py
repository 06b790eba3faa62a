"""The built-in codecs' parameter models, free of torch (``licbench validate`` reads them
without importing the codecs)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from licbench.api.params import CodecParams
from licbench_builtin.codecs import ZOO_QUALITIES, class_name, lite_qualities


class JpegParams(CodecParams):
    quality: int = Field(ge=1, le=95, description="libjpeg quality 1..95")


class WebpParams(CodecParams):
    quality: int = Field(ge=0, le=100, description="libwebp quality 0..100")


class Jpeg2000Params(CodecParams):
    quality: float = Field(ge=15, le=70, description="target PSNR in dB (OpenJPEG's dB mode)")


class AvifParams(CodecParams):
    quality: int = Field(ge=0, le=100, description="libavif quality 0..100")


class HevcParams(CodecParams):
    quality: int = Field(ge=0, le=100, description="libheif quality 0..100 (x265's CRF)")


class JpegXlParams(CodecParams):
    quality: int = Field(ge=0, le=100, description="libjxl quality 0..100")


class CompressAIParams(CodecParams):
    """Weights, in order of precedence: ``checkpoint``, ``pretrained``, else a seeded random
    init (tests only)."""

    zoo_qualities: ClassVar[list[int]] = []
    header_safe = ("metric", "seed")  # never checkpoint or pretrained: the user's alone
    quality: int = Field(ge=1, description="zoo quality (any, with a checkpoint)")
    pretrained: bool = Field(False, description="download CompressAI's weights (needs internet)")
    checkpoint: Path | None = Field(None, description="a CompressAI state dict file")
    metric: Literal["mse", "ms-ssim"] = Field("mse", description="the zoo model's metric")
    seed: int = Field(0, description="seed of the random init")

    @model_validator(mode="after")
    def _zoo_quality(self) -> CompressAIParams:
        valid = self.zoo_qualities
        if not self.checkpoint and valid and self.quality not in valid:
            raise ValueError(
                f"zoo qualities are {valid[0]}..{valid[-1]}, not {self.quality}; "
                "pick one of those or pass a checkpoint"
            )
        return self


class LiteParams(CodecParams):
    shipped: ClassVar[list[int]] = []
    quality: int

    @model_validator(mode="after")
    def _shipped(self) -> LiteParams:
        if self.quality not in self.shipped:
            raise ValueError(f"this build ships qualities {self.shipped}, not {self.quality}")
        return self


def params_name(arch: str, lite: bool = False) -> str:
    """The name of ``arch``'s model in this module (its codec class's, ``Params`` for ``Codec``)."""
    return class_name(arch, lite).removesuffix("Codec") + "Params"


def _arch_params(arch: str, lite: bool = False) -> type[CodecParams]:
    if lite:
        return type(params_name(arch, True), (LiteParams,), {"shipped": lite_qualities(arch)})
    zoo = {"zoo_qualities": ZOO_QUALITIES[arch], "__module__": __name__}
    return type(params_name(arch), (CompressAIParams,), zoo)


# One model per zoo architecture, each under a lazy "module:Class" target of its registration.
Bmshj2018FactorizedParams = _arch_params("bmshj2018-factorized")
Bmshj2018HyperpriorParams = _arch_params("bmshj2018-hyperprior")
Mbt2018MeanParams = _arch_params("mbt2018-mean")
Mbt2018Params = _arch_params("mbt2018")
Cheng2020AnchorParams = _arch_params("cheng2020-anchor")
Cheng2020AttnParams = _arch_params("cheng2020-attn")
Bmshj2018HyperpriorLiteParams = _arch_params("bmshj2018-hyperprior", lite=True)
Mbt2018MeanLiteParams = _arch_params("mbt2018-mean", lite=True)
Cheng2020AnchorLiteParams = _arch_params("cheng2020-anchor", lite=True)
