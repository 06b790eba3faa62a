"""The built-in attacks' parameter models, free of torch (validate and `plugins --params`
read them without importing the attacks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from licbench.api.quantization import Proxy
from licbench.plugin.params import Params


class ObjectiveParams(Params):
    objective: Literal["rate", "distortion", "rd"] = Field(
        "rate", description="what is maximised: bits, MSE to the clean image, or both"
    )
    eps: float = Field(4 / 255, gt=0, le=1, description="L∞ budget (images in [0, 1])")
    y_weight: float = Field(1.0, ge=0, description="weight of the latent y's bits in the rate")
    z_weight: float = Field(
        1.0, ge=0, description="weight of the hyperlatent z's bits (z alone: y_weight 0)"
    )
    seed: int = Field(0, description="salt of the per-image random draws")


class GradientParams(ObjectiveParams):
    step: float | None = Field(
        2 / 255, gt=0, le=1, description="step size of each signed-gradient step (None: eps)"
    )
    iters: int = Field(50, ge=1, description="gradient steps")
    random_start: bool = Field(False, description="start from a uniform point of the ε-ball")
    quantization: Proxy | list[Proxy] = Field(
        "noise",
        description="quantization proxy: noise, ste (straight-through) or none; a list runs "
        "each and keeps the best on the real bitstream",
    )
    draws: int = Field(1, ge=1, description="transform draws averaged per step (EoT)")
    restarts: int = Field(
        1,
        ge=1,
        le=100,
        description="runs, each after the first from a random point of the "
        "ε-ball; the best on the real bitstream is kept",
    )

    @field_validator("quantization")
    @classmethod
    def _distinct(cls, v: Proxy | list[Proxy]) -> Proxy | list[Proxy]:
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("list each proxy once, at least one")
        return v

    @property
    def proxies(self) -> list[Proxy]:
        return [self.quantization] if isinstance(self.quantization, str) else self.quantization


class FGSMParams(GradientParams):
    step: float | None = Field(None, gt=0, le=1, description="step size (None: eps)")
    iters: int = Field(1, ge=1, description="gradient steps")


class EoTParams(GradientParams):
    draws: int = Field(24, ge=1, description="transform draws averaged per step")


class FDAParams(GradientParams):
    random_start: bool = Field(
        True,
        description="start from a uniform point of the ε-ball (at the clean image the "
        "feature distance is 0 and so is its gradient)",
    )


class ApgdParams(GradientParams):
    step: float | None = Field(None, description="unused: the step size is scheduled from 2ε")
    iters: int = Field(50, ge=2, description="gradient steps per restart")
    rho: float = Field(0.75, gt=0, le=1, description="share of raising steps below which η halves")
    alpha: float = Field(0.75, gt=0, le=1, description="weight of the new step against momentum")
    draws: int = Field(8, ge=1, description="EoT draws per step against a randomized defense")


class DecisionParams(GradientParams):
    draws: int = Field(4, ge=1, description="samples of the candidate set per step (EoT)")
    temperature: float = Field(
        0.1, gt=0, le=10, description="softmin temperature, relative to the losses' spread"
    )


class SquareParams(ObjectiveParams):
    queries: int = Field(300, ge=1, description="objective evaluations (real bitstreams)")
    p_init: float = Field(0.05, gt=0, le=1, description="first square's share of the image")


class NoiseParams(Params):
    eps: float = Field(4 / 255, gt=0, le=1, description="L∞ budget (images in [0, 1])")
    seed: int = Field(0, description="salt of the per-image draws")
