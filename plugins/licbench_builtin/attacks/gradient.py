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
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from licbench.api.codec import Attack, Codec, LearnedCodec, RunContext, likelihood_bits
from licbench.api.defense import DefendedCodec, Identity, Transform
from licbench.errors import LicbenchError
from licbench.images import crop, pad
from licbench.plugin.hookspecs import hookimpl
from licbench.train.objectives import lmbda_for


@contextlib.contextmanager
def quantization_proxy(model: torch.nn.Module, proxy: str) -> Iterator[None]:
    """Make the model's entropy models differentiable w.r.t. their input for one pass."""
    from compressai.entropy_models import EntropyModel

    if proxy not in ("noise", "ste"):
        raise LicbenchError(f"quantization proxy must be noise or ste, not '{proxy}'")
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


class GradientAttack(Attack):
    """L∞ sign-gradient ascent; subclasses fix the number of steps or the loss."""

    def __init__(
        self,
        objective: str = "rate",
        eps: float = 4 / 255,
        step: float = 2 / 255,
        iters: int = 50,
        random_start: bool = False,
        quantization: str = "noise",
        draws: int = 1,
        seed: int = 0,
    ) -> None:
        if objective not in ("rate", "distortion", "rd"):
            raise LicbenchError(f"objective must be rate, distortion or rd, not '{objective}'")
        self.objective, self.eps, self.step, self.iters = objective, eps, step, iters
        self.random_start, self.quantization, self.draws, self.seed = (
            random_start,
            quantization,
            draws,
            seed,
        )

    def transforms(self, codec: Codec, gen: torch.Generator) -> list[Transform]:
        """The paths to average over: the bare codec's identity unless EoT."""
        return [Identity()]

    def loss(self, core: LearnedCodec, x_adv: Tensor, x: Tensor, t: Transform) -> Tensor:
        """The quantity to maximise for one transform draw."""
        y = t.forward(x_adv)
        yp, unpad = pad(y, 64)
        out = core.model(yp)
        x_hat = t.inverse(crop(out["x_hat"], unpad), tuple(x.shape[-2:]))
        bpp = likelihood_bits(out["likelihoods"]) / (x.shape[-2] * x.shape[-1])
        mse = F.mse_loss(x_hat, x)
        if self.objective == "rate":
            return bpp
        if self.objective == "distortion":
            return mse
        return bpp + lmbda_for(core.quality) * 255**2 * mse

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        core = learned_core(codec)
        gen = torch.Generator().manual_seed(self.seed + ctx.seed)
        x = x.detach()
        x_adv = x.clone()
        if self.random_start:
            noise = torch.rand(x.shape, generator=gen).to(x) * 2 - 1
            x_adv = (x + self.eps * noise).clamp(0, 1)
        core.model.eval()
        params = [p.requires_grad for p in core.model.parameters()]
        core.model.requires_grad_(False)
        try:
            with quantization_proxy(core.model, self.quantization):
                for _ in range(self.iters):
                    x_adv.requires_grad_(True)
                    draws = self.transforms(codec, gen)
                    total = sum(self.loss(core, x_adv, x, t) for t in draws) / len(draws)
                    (grad,) = torch.autograd.grad(total, x_adv)
                    x_adv = x_adv.detach() + self.step * grad.sign()
                    x_adv = (x + (x_adv - x).clamp(-self.eps, self.eps)).clamp(0, 1)
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

    def __init__(self, objective: str = "rate", eps: float = 4 / 255, **kw: Any) -> None:
        kw.setdefault("iters", 1)
        kw.setdefault("step", eps)
        super().__init__(objective, eps, **kw)


class EoT(GradientAttack):
    """PGD averaged over the defense's transform distribution (Athalye et al.), white-box."""

    name = "eot"
    adaptive = True

    def __init__(self, objective: str = "rate", draws: int = 24, **kw: Any) -> None:
        super().__init__(objective, draws=draws, **kw)

    def transforms(self, codec: Codec, gen: torch.Generator) -> list[Transform]:
        if not isinstance(codec, DefendedCodec):
            return [Identity()]  # no defense: plain PGD
        return [codec.defense.sample_transform(gen) for _ in range(self.draws)]


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
                core.encoder(pad(x, 64)[0])
            clean, feats[:] = list(feats), []
            core.encoder(pad(x_adv, 64)[0])
        finally:
            for h in hooks:
                h.remove()
        return sum((f - c).norm() / (c.norm() + 1e-8) for f, c in zip(feats, clean, strict=True))


@hookimpl
def register_attacks(register: Any) -> None:
    for cls in (PGD, FGSM, EoT, FDA):
        register(cls.name, f"{__name__}:{cls.__name__}", description=cls.__doc__)
