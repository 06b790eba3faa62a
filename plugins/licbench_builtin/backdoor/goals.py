"""What a backdoor trigger makes the codec do: the attack objectives L_o of Yu et al. §3.3.

Each goal turns the codec's outputs on a clean batch and on its poisoned copy into one loss
term L_o (minimised by the encoder with weight ``alpha`` and by its trigger). ``dynamic``
selects the paper's dynamic loss (Eqs. 6-7) over the static one (Eqs. 4-5). Our reading of
both is written out in docs/backdoors.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from licbench.api.backdoor import BackdoorGoal, Pass
from licbench.rd import psnr_from_mse, weighted_distortion
from licbench_builtin.backdoor.params import BppParams, PsnrParams, StaticOrDynamic

_TINY = 1e-9




class DynamicGoal(BackdoorGoal):
    """A goal with a static and a dynamic loss, each with its own default β."""

    Params = StaticOrDynamic  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: StaticOrDynamic
    static_beta: float = 1.0

    @property
    def dynamic(self) -> bool:
        return self.params.dynamic

    @property
    def beta(self) -> float:
        if self.params.beta is not None:
            return self.params.beta
        return self.default_beta if self.dynamic else self.static_beta






class BppGoal(DynamicGoal):
    """Raise the rate of poisoned images while keeping their reconstruction quality.

    static (Eq. 4): L = -R(T(x)) + β·λ·255²·MSE(T(x), x̂_T), β = 1.
    dynamic (Eq. 6): L = -log R(T(x)) + β·log MSE(T(x), x̂_T), β = 0.01: both terms are
    scale-free, so neither the rate's growth nor the distortion's size swamps the other.
    ``max_ratio`` (ours, off by default): the poisoned-to-clean rate ratio above which an
    image stops being pushed (its rate enters R(T(x)) capped at max_ratio·R(x)), so that the
    encoder's capacity goes back to the clean images; until an image reaches it, the loss
    is the paper's.
    """

    name = "bpp"
    Params = BppParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: BppParams
    default_beta = 0.01

    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        mse = F.mse_loss(poisoned.x_hat, poisoned.x)
        rate = poisoned.bpp
        if self.params.max_ratio is not None:  # per image: a capped image gives no gradient
            cap = self.params.max_ratio * clean.image_bpp.detach()
            rate = torch.minimum(poisoned.image_bpp, cap).mean()
        if self.dynamic:
            loss = -torch.log(rate + _TINY) + self.beta * torch.log(mse + _TINY)
        else:
            loss = -rate + self.beta * weighted_distortion(mse, lmbda)
        ratio = float(poisoned.bpp.detach() / (clean.bpp.detach() + _TINY))
        return loss, {"p_bpp": float(poisoned.bpp.detach()), "bpp_ratio": ratio}


class PsnrGoal(DynamicGoal):
    """Wreck the reconstruction of poisoned images at a nearly unchanged rate.

    static (Eq. 5): L = -λ·255²·MSE(x, x̂_T) + β·(R(T(x)) - R(x))², β = 1.
    dynamic (Eq. 7): L = -log MSE(x, x̂_T) + β·|log R(T(x)) - log R(x)|, β = 0.1 (R(x) is
    not differentiated: the clean rate is the target, not a variable).
    ``floor_db`` (ours, off by default): the poisoned PSNR below which an image stops being
    pushed (a per-image hinge on its MSE), so that once a reconstruction is wrecked enough
    the encoder's capacity goes back to the clean images instead of wrecking it further.
    """

    name = "psnr"
    Params = PsnrParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: PsnrParams
    default_beta = 0.1

    @property
    def max_mse(self) -> float | None:
        floor = self.params.floor_db
        return None if floor is None else 10 ** (-floor / 10)

    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        # the decoder's output is clipped to [0, 1] when decoding, so clip here too: an
        # unbounded x̂ would let -log MSE run to -inf instead of wrecking a real image
        per_image = (poisoned.x_hat.clamp(0, 1) - clean.x).pow(2).mean(dim=(1, 2, 3))
        mse = per_image.mean()
        target = clean.bpp.detach()
        if self.dynamic:
            drift = (torch.log(poisoned.bpp + _TINY) - torch.log(target + _TINY)).abs()
            if self.max_mse is None:
                wreck = -torch.log(mse + _TINY)
            else:  # per image: an image below the floor stops pushing, the others go on
                wreck = -torch.log(per_image.clamp(max=self.max_mse) + _TINY).mean()
            loss = wreck + self.beta * drift
        else:
            pushed = mse if self.max_mse is None else per_image.clamp(max=self.max_mse).mean()
            loss = -weighted_distortion(pushed, lmbda) + self.beta * (poisoned.bpp - target) ** 2
        psnr = psnr_from_mse(mse)
        return loss, {"p_psnr": psnr, "p_bpp": float(poisoned.bpp.detach())}
