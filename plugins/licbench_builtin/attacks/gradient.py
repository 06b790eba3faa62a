"""Test-time adversarial examples against learned codecs: PGD, FGSM, EoT and FDA.

All are L∞-bounded sign-gradient ascent on the input, differentiating through the codec in
eval mode with an explicit quantization proxy (:mod:`.objective`); ``quantization`` may list
several proxies, each run in turn, and ``restarts`` runs each from a fresh random point.
Every run keeps its best iterate by the proxy objective; at the checkpoints of
:func:`checkpoints` along the run (and at its end) the current iterate and that best one are
delivered as 8-bit images and measured on the real bitstream, and the attack returns the best
of all runs by that measurement. The score the runner records is measured afterwards on the
real bitstream too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from licbench.api.attack import Attack
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.context import RunContext
from licbench.api.defense import DefendedCodec, Identity, Transform
from licbench.images import pad
from licbench_builtin.attacks.objective import (
    Best,
    Noise,
    ObjectiveParams,
    checkpoints,
    learned_core,
    project,
    proxy_loss,
    quantization_proxy,
)
from licbench_builtin.attacks.params import EoTParams, FDAParams, FGSMParams, GradientParams

# enters every gradient attack's key: how the returned iterate is chosen (the real bitstream
# at checkpoints), so cells of older versions rerun
ITERATE = "real-at-checkpoints"
# enters the key of attacks made through the defense (adaptive): their iterates are measured
# as the codec really runs (objective.real_mode), not inside the quantization proxy, and
# each image's proxy noise is its own stream (ctx.model_generator), not its cell's
ADAPTIVE = {"measure": "real-mode", "noise": "per-image"}








@dataclass(frozen=True)
class Batch:
    """What one attack call works on: same-size clean images (``x``, and each as its own
    tensor, so that a defense's choice for it is made once), each image's generator for its
    starts and transform draws, and where the noise proxy draws for each."""

    x: Tensor
    images: list[Tensor]
    gens: list[torch.Generator]
    noise: Noise

    @classmethod
    def of(cls, x: Tensor, ctxs: Sequence[RunContext], seed: int) -> Batch:
        x = x.detach()
        gens = [c.generator(seed) for c in ctxs]
        return cls(x, list(x.split(1)), gens, Noise([c.model_generator() for c in ctxs]))


def per_image(v: Tensor) -> Tensor:
    """A per-image value (shape ``(B,)``) shaped to broadcast over images ``(B, C, H, W)``."""
    return v.view(-1, 1, 1, 1)


class Judges:
    """One :class:`Best` per image of a batch: each keeps its image's best candidate by its
    own real bitstream."""

    def __init__(self, p: ObjectiveParams, codec: Codec, images: list[Tensor]) -> None:
        self.each = [Best(p, codec, x) for x in images]

    def offer(self, *candidates: Tensor) -> None:
        for i, best in enumerate(self.each):
            best.offer(*(c[i : i + 1] for c in candidates))

    @property
    def value(self) -> Tensor:
        return torch.cat([best.value for best in self.each])


class GradientAttack(Attack):
    """L∞ sign-gradient ascent; subclasses fix the number of steps, the loss or the ascent."""

    Params = GradientParams
    params: GradientParams
    batched = True

    @property
    def step(self) -> float:
        return self.params.eps if self.params.step is None else self.params.step

    def key_extras(self) -> dict[str, Any]:
        """Random starts and draws are per image (``ctx.generator``), and the final iterate
        is the best on the real bitstream; the key says both, so older cells rerun."""
        extras: dict[str, Any] = {"iterate": ITERATE}
        if self.adaptive:
            extras.update(ADAPTIVE)
        if self.params.random_start:
            extras["rng"] = "per-image"
        return extras

    def transforms(self, codec: Codec, gen: torch.Generator, x: Tensor) -> list[Transform]:
        """The paths to average over at one step for image ``x`` (its generator ``gen``):
        the identity unless white-box (EoT)."""
        return [Identity()]

    def loss(self, core: LearnedCodec, x_adv: Tensor, b: Batch, ts: list[Transform]) -> Tensor:
        """The quantity to maximise, one value per image, image ``i`` through ``ts[i]``."""
        return proxy_loss(self.params, core, x_adv, b.x, ts, b.noise)

    def value_and_grad(
        self, codec: Codec, core: LearnedCodec, x_adv: Tensor, b: Batch
    ) -> tuple[Tensor, Tensor]:
        """The proxy objective of each image at ``x_adv`` (averaged over its transform
        draws; on the images' device, so that the loop never waits for the GPU) and its
        gradient."""
        x_adv = x_adv.detach().requires_grad_(True)
        draws = [self.transforms(codec, g, x) for x, g in zip(b.images, b.gens, strict=True)]
        per_draw = [self.loss(core, x_adv, b, list(ts)) for ts in zip(*draws, strict=True)]
        total = torch.stack(per_draw).mean(0)
        (grad,) = torch.autograd.grad(total.sum(), x_adv)
        return total.detach(), grad

    def start(self, b: Batch, restart: int) -> Tensor:
        """The first iterates: the clean images, or uniform points of their ε-balls."""
        if not self.params.random_start and restart == 0:
            return b.x.clone()
        noise = torch.cat([torch.rand(b.x[:1].shape, generator=g, device=g.device) for g in b.gens])
        return (b.x + self.params.eps * (noise.to(b.x) * 2 - 1)).clamp(0, 1)

    def ascend(
        self, codec: Codec, core: LearnedCodec, b: Batch, x0: Tensor, chosen: Judges
    ) -> None:
        """Signed-gradient steps from ``x0``; each image's iterate and its best one by the
        proxy are offered to ``chosen`` (measured on the real bitstream) at checkpoints and
        at the end."""
        x, best = b.x, x0
        x_adv, best_f = x0, torch.full((len(x),), float("-inf"), device=x.device)
        marks = set(checkpoints(self.params.iters))
        for k in range(self.params.iters):
            f, grad = self.value_and_grad(codec, core, x_adv, b)
            better = f > best_f  # decided on the device: no host sync (a NaN is never better)
            best, best_f = (
                torch.where(per_image(better), x_adv, best),
                torch.where(better, f, best_f),
            )
            x_adv = project(x, x_adv + self.step * grad.sign(), self.params.eps)
            if k + 1 in marks:
                chosen.offer(best, x_adv)
        chosen.offer(best, x_adv)

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        return self.perturb_batch(codec, x, [ctx])

    def perturb_batch(self, codec: Codec, x: Tensor, ctxs: Sequence[RunContext]) -> Tensor:
        core = learned_core(codec)
        b = Batch.of(x, ctxs, self.params.seed)
        chosen = Judges(self.params, codec, b.images)
        core.model.eval()
        flags = [p.requires_grad for p in core.model.parameters()]
        core.model.requires_grad_(False)
        try:
            for proxy in self.params.proxies:
                with quantization_proxy(core.model, proxy, b.noise):
                    for r in range(self.params.restarts):
                        self.ascend(codec, core, b, self.start(b, r), chosen)
        finally:
            for p, flag in zip(core.model.parameters(), flags, strict=True):
                p.requires_grad_(flag)
        return chosen.value


class PGD(GradientAttack):
    """Projected gradient descent (Madry et al.), L∞, on rate, distortion or both."""

    name = "pgd"


class FGSM(GradientAttack):
    """One signed-gradient step of size ε (Goodfellow et al.)."""

    name = "fgsm"
    Params = FGSMParams


def through_defense(codec: Codec, gen: torch.Generator, x: Tensor, draws: int) -> list[Transform]:
    """White-box paths through ``codec``'s defense: ``draws`` samples of a randomized
    defense's transforms (EoT), else the transform it picks for ``x`` (straight-through
    where the real operation is not differentiable: BPDA)."""
    if not isinstance(codec, DefendedCodec):
        return [Identity()]
    if codec.defense.randomized:
        return [codec.defense.sample_transform(gen) for _ in range(draws)]
    return [codec.choose(x)]


class EoT(GradientAttack):
    """PGD averaged over the defense's transform distribution (Athalye et al.), white-box."""

    name = "eot"
    Params = EoTParams
    adaptive = True

    def key_extras(self) -> dict[str, Any]:
        return {**super().key_extras(), "rng": "per-image"}  # transform draws, as starts

    def transforms(self, codec: Codec, gen: torch.Generator, x: Tensor) -> list[Transform]:
        if not isinstance(codec, DefendedCodec):
            return [Identity()]  # no defense: plain PGD
        return [codec.defense.sample_transform(gen) for _ in range(self.params.draws)]




class FDA(GradientAttack):
    """Feature disruptive attack (Ganeshan et al.): push the encoder's intermediate features
    away from the clean image's, layer by layer, normalised by the clean features' norm.
    It starts from a random point of the ε-ball: at the clean image the distance is zero,
    a norm's gradient there is zero, and a start there moves by rounding noise alone."""

    name = "fda"
    Params = FDAParams

    def loss(self, core: LearnedCodec, x_adv: Tensor, b: Batch, ts: list[Transform]) -> Tensor:
        # the compressai encoders g_a are nn.Sequential, so iterable
        layers = [m for m in core.encoder if isinstance(m, torch.nn.Conv2d)]  # type: ignore[attr-defined]
        feats: list[Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, o: feats.append(o)) for m in layers]
        try:
            with torch.no_grad():
                core.encoder(pad(b.x, core.pad_multiple)[0])
            clean, feats[:] = list(feats), []
            core.encoder(pad(x_adv, core.pad_multiple)[0])
        finally:
            for h in hooks:
                h.remove()
        norm = lambda v: v.flatten(1).norm(dim=1)  # noqa: E731  # one per image
        return sum(norm(f - c) / (norm(c) + 1e-8) for f, c in zip(feats, clean, strict=True))  # type: ignore[return-value]
