"""`apgd`: Auto-PGD (Croce & Hein 2020, Algorithm 1), L∞, on rate, distortion or rd.

A step size that starts at 2ε and halves at checkpoints where the ascent stalled (fewer
than ρ of the steps since the last checkpoint raised the objective, or neither the step nor
the best value changed since then), restarting from the best point; momentum α = 0.75
between the new gradient step and the last move; ``restarts`` runs, the first from the clean
image unless ``random_start``, the others from uniform points of the ε-ball.

White-box: it differentiates through the defense it meets (EoT over ``draws`` transform
draws where the defense is randomized, straight-through where it is not differentiable).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from licbench.api.codec import Codec, LearnedCodec
from licbench.api.defense import Transform
from licbench_builtin.attacks.gradient import (
    Batch,
    GradientAttack,
    Judges,
    per_image,
    through_defense,
)
from licbench_builtin.attacks.objective import checkpoints, project
from licbench_builtin.attacks.params import ApgdParams


class APGD(GradientAttack):
    """Auto-PGD with restarts (Croce & Hein 2020), white-box through the defense."""

    name = "apgd"
    Params = ApgdParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: ApgdParams
    adaptive = True

    def key_extras(self) -> dict[str, Any]:
        return {**super().key_extras(), "rng": "per-image"}  # restarts and draws

    def transforms(self, codec: Codec, gen: torch.Generator, x: Tensor) -> list[Transform]:
        return through_defense(codec, gen, x, self.params.draws)

    def ascend(
        self, codec: Codec, core: LearnedCodec, b: Batch, x0: Tensor, chosen: Judges
    ) -> None:
        """Algorithm 1 from ``x0``, each image with its own step size, momentum and best
        point; at each checkpoint (and at the end) every image's iterate and its best one by
        the proxy are offered to ``chosen``, the real bitstream's judge. Every decision is
        made on the device (no host sync)."""
        p, eps, x = self.params, self.params.eps, b.x
        marks = checkpoints(p.iters)
        eta = torch.full((len(x),), 2 * eps, device=x.device)
        f, grad = self.value_and_grad(codec, core, x0, b)
        best, best_f, best_grad = x0, f, grad
        x_prev, x_k = x0, project(x, x0 + per_image(eta) * grad.sign(), eps)
        raised, last_mark, f_prev = torch.zeros_like(eta, dtype=torch.int), 0, f
        mark_eta, mark_best = eta, best_f
        for k in range(1, p.iters):
            f, grad = self.value_and_grad(codec, core, x_k, b)
            raised = raised + (f > f_prev)
            f_prev, better = f, f > best_f
            best = torch.where(per_image(better), x_k, best)
            best_grad = torch.where(per_image(better), grad, best_grad)
            best_f = torch.where(better, f, best_f)
            if k in marks:
                stalled = raised < p.rho * (k - last_mark)
                halve = stalled | ((mark_eta == eta) & (mark_best == best_f))
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(per_image(halve), best, x_k)
                grad = torch.where(per_image(halve), best_grad, grad)
                raised, last_mark, mark_eta, mark_best = torch.zeros_like(raised), k, eta, best_f
                chosen.offer(best, x_k)
            z = project(x, x_k + per_image(eta) * grad.sign(), eps)
            x_next = project(x, x_k + p.alpha * (z - x_k) + (1 - p.alpha) * (x_k - x_prev), eps)
            x_prev, x_k = x_k, x_next
        chosen.offer(best, x_k)
