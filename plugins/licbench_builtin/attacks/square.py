"""Gradient-free attacks: `square` (Square Attack, Andriushchenko et al. 2020, L∞) and
`random-noise` (the same budget spent at random, the audit's baseline).

Square queries the codec it meets, defense included, as a black box: every query is the
objective on the real bitstream (:func:`.objective.real_score`). It starts from vertical
stripes of ±ε and, per query, redraws ±ε per channel on one random square whose area share
``p`` shrinks on the authors' schedule (rescaled to ``queries``), keeping a change only if
it raises the objective. Where it beats the gradient attacks on a defense, that defense
masks gradients.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from licbench.api.attack import DELIVERY, Attack, deliver
from licbench.api.codec import Codec
from licbench.api.context import RunContext
from licbench_builtin.attacks.objective import real_score
from licbench_builtin.attacks.params import NoiseParams, SquareParams

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of 10,000 queries




def square_share(p_init: float, query: int, queries: int) -> float:
    """The area share ``p`` at ``query``: halved at each of the authors' marks, rescaled."""
    at = int(query / queries * 10_000)
    return p_init / 2 ** sum(at > m for m in HALVINGS)


def _signs(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return torch.randint(0, 2, shape, generator=gen, device=gen.device).float() * 2 - 1


class Square(Attack):
    """Square Attack (Andriushchenko et al. 2020), L∞, gradient-free, on the real bitstream."""

    name = "square"
    Params = SquareParams
    params: SquareParams
    adaptive = True  # queries the defended codec

    def key_extras(self) -> dict[str, Any]:
        return {"rng": "per-image", "judged": DELIVERY}  # candidates scored as delivered

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        p, eps = self.params, self.params.eps
        gen = ctx.generator(p.seed)
        x = x.detach()
        _, c, h, w = x.shape
        delta = eps * _signs((1, c, 1, w), gen).to(x).expand_as(x).clone()
        x_best = deliver(x + delta, x, eps)
        best = real_score(p, codec, x_best, x)
        for q in range(1, p.queries):
            area = square_share(p.p_init, q, p.queries) * h * w
            side = max(1, min(h - 1, w - 1, round(math.sqrt(area))))
            r = int(torch.randint(0, h - side + 1, (1,), generator=gen, device=gen.device))
            s = int(torch.randint(0, w - side + 1, (1,), generator=gen, device=gen.device))
            window = delta[..., r : r + side, s : s + side]
            new = eps * _signs((1, c, 1, 1), gen).to(x)
            while bool((window == new).all()):  # the change must change something
                new = eps * _signs((1, c, 1, 1), gen).to(x)
            cand = delta.clone()
            cand[..., r : r + side, s : s + side] = new
            x_cand = deliver(x + cand, x, eps)
            score = real_score(p, codec, x_cand, x)
            if score > best:
                best, delta, x_best = score, cand, x_cand
        return x_best




class RandomNoise(Attack):
    """±ε at random per pixel and channel: an attack's budget spent without an attack."""

    name = "random-noise"
    Params = NoiseParams
    params: NoiseParams

    def key_extras(self) -> dict[str, Any]:
        return {"rng": "per-image"}

    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        gen = ctx.generator(self.params.seed)
        return (x + self.params.eps * _signs(tuple(x.shape), gen).to(x)).clamp(0, 1)
