"""Bjøntegaard delta rate and PSNR between two rate-distortion curves.

Piecewise cubic Hermite interpolation (PCHIP) over the overlap of the two curves, as in the
JVET common-test-conditions sheet: it needs only two points per curve and, unlike the cubic
polynomial fit of VCEG-M33, never overshoots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator


def _mean_gap(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> float:
    """Mean of ``yb(x) - ya(x)`` over the overlap of the x ranges (NaN if none)."""
    curves = []
    for x, y in ((xa, ya), (xb, yb)):
        order = np.argsort(x)
        x, y = x[order], y[order]
        keep = np.concatenate([[True], np.diff(x) > 0])
        curves.append((x[keep], y[keep]))
    (xa, ya), (xb, yb) = curves
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if len(xa) < 2 or len(xb) < 2 or hi <= lo:
        return float("nan")
    area = PchipInterpolator(xb, yb).integrate(lo, hi) - PchipInterpolator(xa, ya).integrate(lo, hi)
    return float(area / (hi - lo))


def bd_rate(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
) -> float:
    """Average rate difference of B against anchor A at equal PSNR, in percent."""
    gap = _mean_gap(
        np.asarray(psnr_a, float),
        np.log(np.asarray(rate_a, float)),
        np.asarray(psnr_b, float),
        np.log(np.asarray(rate_b, float)),
    )
    return float((np.exp(gap) - 1) * 100)


def bd_psnr(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
) -> float:
    """Average PSNR difference of B against anchor A at equal rate, in dB."""
    return _mean_gap(
        np.log(np.asarray(rate_a, float)),
        np.asarray(psnr_a, float),
        np.log(np.asarray(rate_b, float)),
        np.asarray(psnr_b, float),
    )
