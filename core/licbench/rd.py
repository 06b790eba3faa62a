"""The shared rate–distortion math: every plugin, benchmark script and test uses these.

- :data:`ZOO_LAMBDAS` / :func:`lmbda_for`: CompressAI's λ of each zoo quality (MSE models).
- :func:`rd_loss`: R + λ·255²·MSE (Ballé et al.), for tensors and floats alike, and
  :func:`weighted_distortion`, its λ·255²·MSE term (backdoor goals weigh it with β).
- :func:`psnr_from_mse` / :func:`psnr_8bit`: PSNR in dB (CompressAI's evaluation rounds to
  8 bits first).
- :func:`likelihood_bits`, :func:`bpp_of`, :func:`image_bpp`: the entropy model's rate.
- :data:`DOWNSAMPLING`: the total stride of CompressAI's image models (six stride-2 stages),
  the default of :attr:`licbench.api.codec.LearnedCodec.downsampling_factor`.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch
from torch import Tensor

# CompressAI's zoo lambdas (MSE models) for qualities 1..8.
ZOO_LAMBDAS: dict[int, float] = {
    1: 0.0018,
    2: 0.0035,
    3: 0.0067,
    4: 0.0130,
    5: 0.0250,
    6: 0.0483,
    7: 0.0932,
    8: 0.1800,
}
DISTORTION_SCALE = 255**2  # λ is defined on MSE of 8-bit pixel values
DOWNSAMPLING = 64

Num = TypeVar("Num", Tensor, float)


def lmbda_for(quality: float) -> float:
    """The zoo λ of a codec quality; quality 4's for qualities outside the table."""
    return ZOO_LAMBDAS.get(int(quality), ZOO_LAMBDAS[4])


def weighted_distortion(mse: Num, lmbda: float) -> Num:
    """λ·255²·MSE: the distortion term of the RD loss, for the MSE of images in [0, 1]."""
    return lmbda * DISTORTION_SCALE * mse


def rd_loss(bpp: Num, mse: Num, lmbda: float) -> Num:
    """R + λ·255²·MSE with the rate in bits per pixel and the MSE of images in [0, 1]."""
    return bpp + weighted_distortion(mse, lmbda)


def psnr_from_mse(mse: float | Tensor, peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error at signal ``peak``; infinite for a zero MSE."""
    mse = float(mse)
    return math.inf if mse <= 0 else 10 * math.log10(peak**2 / mse)


def to_8bit(x: Tensor) -> Tensor:
    """Pixel values rounded to the 8-bit grid 0..255 (as float)."""
    return (x.detach().float() * 255).clamp(0, 255).round()


def psnr_8bit(a: Tensor, b: Tensor) -> float:
    """PSNR (RGB) of two images in [0, 1], both rounded to 8 bits first."""
    mse = (to_8bit(a) - to_8bit(b.to(a.device))).pow(2).mean()
    return psnr_from_mse(mse, peak=255.0)


def likelihood_bits(
    likelihoods: dict[str, Tensor],
    per_image: bool = False,
    weights: dict[str, float] | None = None,
) -> Tensor:
    """The rate the entropy model assigns: the sum of -log2 of every likelihood (with
    ``per_image``, one sum for each image of the batch; ``weights``, a factor per latent by
    name, e.g. ``{"y": 0.0}`` for the hyperlatent z's bits alone)."""

    def bits(v: Tensor) -> Tensor:
        return -torch.log2(v).flatten(1).sum(1) if per_image else -torch.log2(v).sum()

    w = weights or {}
    return sum(w[k] * bits(v) if k in w else bits(v) for k, v in likelihoods.items())  # type: ignore[return-value]


def bpp_of(likelihoods: dict[str, Tensor], x: Tensor) -> Tensor:
    """Estimated bits per pixel of a batch."""
    return likelihood_bits(likelihoods) / (x.shape[0] * x.shape[-2] * x.shape[-1])


def image_bpp(likelihoods: dict[str, Tensor], x: Tensor) -> Tensor:
    """Estimated bits per pixel of each image of a batch (their mean is ``bpp_of``)."""
    return likelihood_bits(likelihoods, per_image=True) / (x.shape[-2] * x.shape[-1])
