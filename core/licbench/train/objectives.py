"""Training objectives for the shared training loop."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.codec import likelihood_bits
from licbench.plugin.hookspecs import hookimpl
from licbench.train.trainer import Objective, StepOutput

# CompressAI's zoo lambdas (MSE models) for qualities 1..8.
ZOO_LAMBDAS = {
    1: 0.0018,
    2: 0.0035,
    3: 0.0067,
    4: 0.0130,
    5: 0.0250,
    6: 0.0483,
    7: 0.0932,
    8: 0.1800,
}


def lmbda_for(quality: float) -> float:
    """The zoo λ of a codec quality; quality 4's for qualities outside the table."""
    return ZOO_LAMBDAS.get(int(quality), ZOO_LAMBDAS[4])


def bpp_of(likelihoods: dict[str, Tensor], x: Tensor) -> Tensor:
    """Estimated bits per pixel of a batch."""
    return likelihood_bits(likelihoods) / (x.shape[0] * x.shape[-2] * x.shape[-1])


def image_bpp(likelihoods: dict[str, Tensor], x: Tensor) -> Tensor:
    """Estimated bits per pixel of each image of a batch (their mean is ``bpp_of``)."""
    return likelihood_bits(likelihoods, per_image=True) / (x.shape[-2] * x.shape[-1])


class RateDistortion(Objective):
    """Train a whole codec: R + λ·255²·MSE (Ballé et al.), plus the entropy bottleneck's
    auxiliary loss with its own optimizer."""

    aux_loss = True

    def __init__(self, lmbda: float) -> None:
        self.lmbda = lmbda

    def parameter_groups(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        return {"codec": [p for n, p in model.named_parameters() if not n.endswith("quantiles")]}

    def terms(self, model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """R + λ·255²·MSE of a batch, with its bpp and MSE."""
        out = model(x)
        bpp = bpp_of(out["likelihoods"], x)
        mse = F.mse_loss(out["x_hat"], x)
        return bpp + self.lmbda * 255**2 * mse, bpp, mse

    def step(self, model: nn.Module, x: Tensor) -> StepOutput:
        loss, bpp, mse = self.terms(model, x)
        psnr = 10 * math.log10(1 / max(float(mse.detach()), 1e-12))
        logs = {"bpp": float(bpp.detach()), "mse": float(mse.detach()), "psnr": psnr}
        return StepOutput({"codec": loss}, logs)


@hookimpl
def register_objectives(register: Any) -> None:
    register("rate-distortion", f"{__name__}:RateDistortion", description=RateDistortion.__doc__)
