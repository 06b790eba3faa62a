"""Training objectives of the shared loop (not plugins: attacks and defenses build them)."""

from __future__ import annotations

from torch import Tensor, nn

from licbench.rd import bpp_of, psnr_from_mse, rd_loss
from licbench.train.trainer import Objective, StepOutput


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
        mse = (out["x_hat"] - x).pow(2).mean()
        return rd_loss(bpp, mse, self.lmbda), bpp, mse

    def step(self, model: nn.Module, x: Tensor) -> StepOutput:
        loss, bpp, mse = self.terms(model, x)
        logs = {"bpp": float(bpp.detach()), "mse": float(mse.detach()), "psnr": psnr_from_mse(mse)}
        return StepOutput({"codec": loss}, logs)
