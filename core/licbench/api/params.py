"""The parameter models of the contracts, free of torch. A plugin's own ``Params`` subclass
them in a module without torch and register it (``params="pkg.params:MyParams"``), so that
``licbench validate`` checks a manifest without importing any plugin."""

from __future__ import annotations

from licbench.plugin.params import Params


class CodecParams(Params):
    """A codec's quality setting (subclasses narrow its range) and nothing else."""

    quality: float


class GoalParams(Params):
    alpha: float | None = None  # None: the goal's default weight
    beta: float | None = None  # None: the goal's default for its loss form
