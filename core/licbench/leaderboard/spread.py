"""Spread of a mean over images: 95 % percentile-bootstrap intervals.

Every interval resamples the images (with replacement, the same draw on every side of a
comparison, so that paired differences stay paired) ``DRAWS`` times from a fixed seed: the
same database always gives the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DRAWS = 400
LEVEL = 0.95
SEED = 20230601


def boot_weights(n: int, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """``draws`` × ``n`` resampling weights: how often each of ``n`` images is drawn."""
    if n == 0:
        return np.zeros((0, 0))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1 / n), size=draws).astype(float)


def interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates (NaN where none is finite)."""
    found = np.asarray(values, float)
    found = found[np.isfinite(found)]
    if len(found) < max(10, len(values) // 2):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(found, [tail, 100 - tail])
    return float(lo), float(hi)


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """The bootstrap interval of a plain mean over images."""
    x = np.asarray(values, float)
    if len(x) < 2:
        return float("nan"), float("nan")
    w = boot_weights(len(x))
    return interval(list(w @ x / len(x)))
