"""Test-time adversarial examples against learned codecs: PGD, FGSM, EoT and FDA.

All are L∞-bounded sign-gradient ascent on the input, differentiating through the codec in
eval mode with an explicit quantization proxy: ``noise`` (additive uniform noise, the
training-time proxy) or ``ste`` (rounding forward, identity backward). The score the runner
records is always measured afterwards on the real bitstream.

Objectives: ``rate`` (−log₂ P(ŷ) − log₂ P(ẑ), hyperprior bits included), ``distortion``
(MSE of the reconstruction to the clean image) or ``rd`` (rate + λ·255²·distortion).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from licbench.api.attack import Attack
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.context import RunContext
from licbench.api.defense import DefendedCodec, Identity, Transform
from licbench.errors import LicbenchError
from licbench.images import crop, pad
from licbench.plugin.hookspecs import hookimpl
from licbench.plugin.params import Params
from licbench.rd import likelihood_bits, lmbda_for, rd_loss


@contextlib.contextmanager
def quantization_proxy(model: torch.nn.Module, proxy: str) -> Iterator[None]:
    """Make the model's entropy models differentiable w.r.t. their input for one pass."""
    from compressai.entropy_models import EntropyModel

    models = [m for m in model.modules() if isinstance(m, EntropyModel)]
    saved = [(m, m.training, m.__dict__.get("quantize")) for m in models]
    for m in models:
        if proxy == "noise":
            m.train()
        else:
            m.quantize = _straight_through(m.quantize)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m, training, quantize in saved:
            m.train(training)
            if quantize is None:
                m.__dict__.pop("quantize", None)
            else:
                m.quantize = quantize  # type: ignore[method-assign]


def _straight_through(quantize: Any) -> Any:
    """Round in the forward pass, pass the gradient through unchanged (symbols stay exact)."""

    def ste(x: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
        q = quantize(x, mode, means)
        return q if mode == "symbols" else x + (q - x).detach()

    return ste


def learned_core(codec: Codec) -> LearnedCodec:
    inner = codec.inner if isinstance(codec, DefendedCodec) else codec
    if not isinstance(inner, LearnedCodec):
        raise LicbenchError(f"gradient attacks need a learned codec; {codec.name} has no model")
    return inner


class GradientParams(Params):
    objective: Literal["rate", "distortion", "rd"] = Field(
        "rate", description="what is maximised: bits, MSE to the clean image, or both"
    )
    eps: float = Field(4 / 255, gt=0, le=1, description="L∞ budget (images in [0, 1])")
    step: float | None = Field(
        2 / 255, gt=0, le=1, description="step size of each signed-gradient step (None: eps)"
    )
    iters: int = Field(50, ge=1, description="gradient steps")
    random_start: bool = Field(False, description="start from a uniform point of the ε-ball")
    quantization: Literal["noise", "ste"] = Field(
        "noise", description="quantization proxy: additive noise or straight-through rounding"
    )
    draws: int = Field(1, ge=1, description="transform draws averaged per step (EoT)")
    seed: int = Field(0, description="salt of the per-image random start and draws")


class FGSMParams(GradientParams):
    step: float | None = Field(None, gt=0, le=1, description="step size (None: eps)")
    iters: int = Field(1, ge=1, description="gradient steps")


class EoTParams(GradientParams):
    draws: int = Field(24, ge=1, description="transform draws averaged per step")


class GradientAttack(Attack):
    """L∞ sign-gradient ascent; subclasses fix the number of steps or the loss."""

    Params = GradientParams
    params: GradientParams

    @classmethod
    def applies_to(cls, codec: type[Codec]) -> bool:
        """Learned codecs only: it differentiates through the codec's model."""
        return issubclass(codec, LearnedCodec)

    @property
    def step(self) -> float:
        return self.params.eps if self.params.step is None else self.params.step

    def key_extras(self) -> dict[str, Any]:
        """Random starts are drawn per image (``ctx.generator``) since licbench 0.1.0's
        contracts; the key says so, so cells stored with one draw for every image rerun."""
        return {"rng": "per-image"} if self.params.random_start else {}

    def transforms(self, codec: Codec, gen: torch.Generator) -> list[Transform]:
        """The paths to average over: the bare codec's identity unless EoT."""
        return [Identity()]

    def loss(self, core: LearnedCodec, x_adv: Tensor, x: Tensor, t: Transform) -> Tensor:
        """The quantity to maximise for one transform draw."""
        y = t.forward(x_adv)
        yp, unpad = pad(y, core.pad_multiple)
        out = core.model(yp)
        x_hat = t.inverse(crop(out["x_hat"], unpad), tuple(x.shape[-2:]))
        bpp = likelihood_bits(out["likelihoods"]) / (x.shape[-2] * x.shape[-1])
        mse = F.mse_loss(x_hat, x)
        if self.params.objective == "rate":
            return bpp
        if self.params.objective == "distortion":
            return mse
        return rd_loss(bpp, mse, lmbda_for(core.quality))

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        core = learned_core(codec)
        gen = ctx.generator(self.params.seed)
        eps = self.params.eps
        x = x.detach()
        x_adv = x.clone()
        if self.params.random_start:
            noise = torch.rand(x.shape, generator=gen).to(x) * 2 - 1
            x_adv = (x + eps * noise).clamp(0, 1)
        core.model.eval()
        params = [p.requires_grad for p in core.model.parameters()]
        core.model.requires_grad_(False)
        try:
            with quantization_proxy(core.model, self.params.quantization):
                for _ in range(self.params.iters):
                    x_adv.requires_grad_(True)
                    draws = self.transforms(codec, gen)
                    total = sum(self.loss(core, x_adv, x, t) for t in draws) / len(draws)
                    (grad,) = torch.autograd.grad(total, x_adv)
                    x_adv = x_adv.detach() + self.step * grad.sign()
                    x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
        finally:
            for p, flag in zip(core.model.parameters(), params, strict=True):
                p.requires_grad_(flag)
        return x_adv.detach()


class PGD(GradientAttack):
    """Projected gradient descent (Madry et al.), L∞, on rate, distortion or both."""

    name = "pgd"


class FGSM(GradientAttack):
    """One signed-gradient step of size ε (Goodfellow et al.)."""

    name = "fgsm"
    Params = FGSMParams


class EoT(GradientAttack):
    """PGD averaged over the defense's transform distribution (Athalye et al.), white-box."""

    name = "eot"
    Params = EoTParams
    adaptive = True

    def key_extras(self) -> dict[str, Any]:
        return {"rng": "per-image"}  # transform draws, as random starts

    def transforms(self, codec: Codec, gen: torch.Generator) -> list[Transform]:
        if not isinstance(codec, DefendedCodec):
            return [Identity()]  # no defense: plain PGD
        return [codec.defense.sample_transform(gen) for _ in range(self.params.draws)]


class FDA(GradientAttack):
    """Feature disruptive attack (Ganeshan et al.): push the encoder's intermediate features
    away from the clean image's, layer by layer, normalised by the clean features' norm."""

    name = "fda"

    def loss(self, core: LearnedCodec, x_adv: Tensor, x: Tensor, t: Transform) -> Tensor:
        layers = [m for m in core.encoder if isinstance(m, torch.nn.Conv2d)]
        feats: list[Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, o: feats.append(o)) for m in layers]
        try:
            with torch.no_grad():
                core.encoder(pad(x, core.pad_multiple)[0])
            clean, feats[:] = list(feats), []
            core.encoder(pad(x_adv, core.pad_multiple)[0])
        finally:
            for h in hooks:
                h.remove()
        return sum((f - c).norm() / (c.norm() + 1e-8) for f, c in zip(feats, clean, strict=True))


@hookimpl
def register_attacks(register: Any) -> None:
    for cls in (PGD, FGSM, EoT, FDA):
        register(cls.name, f"{__name__}:{cls.__name__}", description=cls.__doc__)
