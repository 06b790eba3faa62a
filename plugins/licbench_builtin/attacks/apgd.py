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

import math
from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from licbench.api.codec import Codec, LearnedCodec
from licbench.api.defense import Transform
from licbench.plugin.hookspecs import hookimpl
from licbench_builtin.attacks.gradient import GradientAttack, GradientParams, through_defense
from licbench_builtin.attacks.objective import project


class ApgdParams(GradientParams):
    step: float | None = Field(None, description="unused: the step size is scheduled from 2ε")
    iters: int = Field(50, ge=2, description="gradient steps per restart")
    restarts: int = Field(1, ge=1, description="runs; the best on the real bitstream is kept")
    rho: float = Field(0.75, gt=0, le=1, description="share of raising steps below which η halves")
    alpha: float = Field(0.75, gt=0, le=1, description="weight of the new step against momentum")
    draws: int = Field(8, ge=1, description="EoT draws per step against a randomized defense")


def checkpoints(iters: int) -> list[int]:
    """The iterations where the step size may halve: p₀ = 0, p₁ = 0.22,
    p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), times ``iters``."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(v * iters) for v in p[1:] if v < 1} - {0})


class APGD(GradientAttack):
    """Auto-PGD with restarts (Croce & Hein 2020), white-box through the defense."""

    name = "apgd"
    Params = ApgdParams
    params: ApgdParams
    adaptive = True

    @property
    def restarts(self) -> int:  # type: ignore[override]
        return self.params.restarts

    def key_extras(self) -> dict[str, Any]:
        return {**super().key_extras(), "rng": "per-image"}  # restarts and draws

    def transforms(self, codec: Codec, gen: torch.Generator, x: Tensor) -> list[Transform]:
        return through_defense(codec, gen, x, self.params.draws)

    def ascend(
        self, codec: Codec, core: LearnedCodec, x: Tensor, x0: Tensor, gen: torch.Generator
    ) -> list[Tensor]:
        """Algorithm 1 from ``x0``: [the best iterate by the proxy, the last]."""
        p, eps = self.params, self.params.eps
        marks = checkpoints(p.iters)
        eta = 2 * eps
        f, grad = self.value_and_grad(codec, core, x0, x, gen)
        best, best_f, best_grad = x0, f, grad
        x_prev, x_k = x0, project(x, x0 + eta * grad.sign(), eps)
        raised, last_mark, f_prev = 0, 0, f
        mark_eta, mark_best = eta, best_f
        for k in range(1, p.iters):
            f, grad = self.value_and_grad(codec, core, x_k, x, gen)
            raised += f > f_prev
            f_prev = f
            if f > best_f:
                best, best_f, best_grad = x_k, f, grad
            if k in marks:
                stalled = raised < p.rho * (k - last_mark)
                unchanged = mark_eta == eta and mark_best == best_f
                if stalled or unchanged:
                    eta /= 2
                    x_k, grad = best, best_grad
                raised, last_mark, mark_eta, mark_best = 0, k, eta, best_f
            z = project(x, x_k + eta * grad.sign(), eps)
            x_next = project(x, x_k + p.alpha * (z - x_k) + (1 - p.alpha) * (x_k - x_prev), eps)
            x_prev, x_k = x_k, x_next
        return [best, x_k]


@hookimpl
def register_attacks(register: Any) -> None:
    register(APGD.name, f"{__name__}:{APGD.__name__}", description=APGD.__doc__)
