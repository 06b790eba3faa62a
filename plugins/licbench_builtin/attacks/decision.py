"""An adaptive attack on a defense that chooses among candidate paths (Tramèr et al. 2020):
two-way and K-way compression encode the candidate (the identity and K−1 random
transforms) whose rate-distortion loss is lowest, so the attack raises the objective of
the path the defense will choose.

Per step, for each of ``draws`` samples of the candidate set (the identity plus K−1
transforms drawn from the defense's own distribution: the real draws are seeded from the
attacked pixels, so the attacker cannot know them), it scores every path through the
quantization proxy: the defense's RD loss (estimated bpp + λ·255²·MSE, as the defense
computes it) and the attack's objective. The softmin of the RD losses (temperature
``temperature``, relative to their spread) weights the objectives, so the gradient follows
the path the defense picks and pushes it up; the average over samples is the EoT
expectation. Against any other codec it is plain PGD.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from licbench.api.codec import Codec, LearnedCodec
from licbench.api.defense import DefendedCodec, Identity
from licbench.images import crop, pad
from licbench.rd import likelihood_bits, lmbda_for, rd_loss
from licbench_builtin.attacks.gradient import Batch, GradientAttack
from licbench_builtin.attacks.objective import each_image, objective
from licbench_builtin.attacks.params import DecisionParams


class DecisionAttack(GradientAttack):
    """Adaptive attack on two-way / K-way compression: the objective of the path the
    defense chooses (softmin of its RD losses over the identity and K−1 draws), with EoT."""

    name = "kway-adaptive"
    Params = DecisionParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: DecisionParams
    adaptive = True

    def key_extras(self) -> dict[str, Any]:
        return {**super().key_extras(), "rng": "per-image", "decision": "softmin-rd"}

    def _path(
        self, core: LearnedCodec, x_adv: Tensor, x: Tensor, t: Any, lmbda: float
    ) -> tuple[Tensor, Tensor]:
        """(the defense's RD loss, the attack's objective) of one path."""
        y = t.forward(x_adv)
        yp, unpad = pad(y, core.pad_multiple)
        out = core.model(yp)
        pixels = x.shape[-2] * x.shape[-1]
        x_hat = t.inverse(crop(out["x_hat"], unpad), tuple(x.shape[-2:]))
        bits = likelihood_bits(out["likelihoods"]) / pixels
        rd = rd_loss(bits, F.mse_loss(x_hat, x_adv), lmbda)  # what the defense minimises
        return rd, objective(self.params, core, out["likelihoods"], x_hat, x)[0]

    def value_and_grad(
        self, codec: Codec, core: LearnedCodec, x_adv: Tensor, b: Batch
    ) -> tuple[Tensor, Tensor]:
        defense = codec.defense if isinstance(codec, DefendedCodec) else None
        if defense is None or not hasattr(defense, "sample_transform"):
            return super().value_and_grad(codec, core, x_adv, b)
        x_adv = x_adv.detach().requires_grad_(True)
        totals = []
        for i, (v, x, gen) in enumerate(zip(each_image(x_adv), b.images, b.gens, strict=True)):
            with b.noise.images([i]):  # each image with its own paths
                totals.append(self._expected(defense, core, v, x, gen))
        total = torch.stack(totals)
        (grad,) = torch.autograd.grad(total.sum(), x_adv)
        return total.detach(), grad

    def _expected(
        self, defense: Any, core: LearnedCodec, x_adv: Tensor, x: Tensor, gen: torch.Generator
    ) -> Tensor:
        """The softmin-weighted objective of one image, averaged over candidate-set draws."""
        k = int(getattr(defense, "k", 2))
        lmbda = lmbda_for(core.quality)
        values = []
        for _ in range(self.params.draws):
            paths = [Identity()] + [defense.sample_transform(gen) for _ in range(k - 1)]
            rd, goal = zip(*(self._path(core, x_adv, x, t, lmbda) for t in paths), strict=True)
            losses = torch.stack(rd)
            spread = (losses.max() - losses.min()).detach().clamp_min(1e-6)
            weights = torch.softmax(-losses / (self.params.temperature * spread), dim=0)
            values.append((weights * torch.stack(goal)).sum())
        return torch.stack(values).mean()
