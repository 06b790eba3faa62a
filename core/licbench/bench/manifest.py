"""The manifest schema: a YAML file declaring the matrix
datasets x codecs x qualities x attacks x defenses x metrics.

Reading one (``include``s merged, line numbers kept) is :mod:`licbench.bench.yaml_loader`;
checking its plugins and filling what plugins' roles supply is :mod:`licbench.bench.checker`;
the standard attack set of a threat model is :mod:`licbench.bench.threats`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from licbench.api.executor import Resources
from licbench.api.quantization import PROXIES, Proxy
from licbench.budget import parse_eps
from licbench.errors import nearest
from licbench.plugin.params import Ref, Selection


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginRef(Ref):
    """A plugin in a manifest, with the ``label`` its cells are shown and stored under."""

    label: str | None = None

    @property
    def display(self) -> str:
        return self.label or self.name


class DatasetRef(PluginRef, Selection):
    """A dataset in a manifest, with the images it uses."""


class CodecRef(PluginRef):
    qualities: list[float] = Field(min_length=1)


class LeaderboardConfig(_Strict):
    rank_by: str = "psnr"
    anchor: str | None = Field(
        default=None, description="codec for BD-rate, if present (unset: the anchor codec)"
    )


class Exclude(_Strict):
    """A rule that leaves cells out of the matrix: every key it gives must match (a plugin's
    name or label; ``none`` for no attack or defense)."""

    dataset: str | None = None
    codec: str | None = None
    quality: float | None = None
    attack: str | None = None
    defense: str | None = None


class StandardSet(_Strict):
    """The standard attack set of a threat model, with its cost knobs (see
    :func:`standard_attacks`)."""

    iters: int = Field(50, ge=2, description="gradient steps of apgd (per restart) and pgd")
    restarts: int = Field(3, ge=1, description="apgd restarts")
    queries: int = Field(300, ge=1, description="square's queries (real bitstreams)")
    draws: int = Field(8, ge=1, description="EoT draws per step against randomized defenses")
    seeds: int = Field(
        1,
        ge=1,
        le=20,
        description="runs of each attack, with seeds 0..N-1; each is stored "
        "and counts (worst per image), and the spread over seeds is shown",
    )
    proxies: list[Proxy] = Field(
        default_factory=lambda: list(PROXIES),
        description="quantization proxies each gradient attack tries (best per image kept)",
    )


class ThreatModel(_Strict):
    """What a robustness claim is about: a goal, a budget and the attacks that count. The
    robust score of a (codec, quality, defense) is, per image, the worst over these
    attacks, then averaged over images. With ``standard``, the manifest also runs the
    standard attack set for this goal and budget, and the threat model counts it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    goal: str = Field(
        "rate", description="rate (bpp up), distortion (PSNR down), or a metric's name"
    )
    budget: dict[str, Any] = Field(
        default_factory=dict, description="shown with the table, e.g. {norm: linf, eps: 4/255}"
    )
    attacks: list[str] = Field(
        default_factory=list, description="attack labels or names that count"
    )
    standard: StandardSet | None = Field(
        default=None, description="add the standard set: apgd (white-box, restarts), pgd, square"
    )

    @model_validator(mode="before")
    @classmethod
    def _standard_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("standard") is True:
            return {**value, "standard": {}}
        return value

    @model_validator(mode="after")
    def _counts_something(self) -> ThreatModel:
        if not self.attacks and self.standard is None:
            raise ValueError(
                f"threat model '{self.name}' counts no attack; list attacks or set standard: true"
            )
        if "eps" in self.budget:
            try:
                parse_eps(self.budget["eps"])
            except (TypeError, ValueError):
                raise ValueError(
                    f"threat model '{self.name}': budget eps {self.budget['eps']!r} is not a "
                    "number or a fraction such as 4/255"
                ) from None
        return self

    @property
    def eps(self) -> float | None:
        """The budget's ε (None: the budget names none)."""
        return parse_eps(self.budget["eps"]) if "eps" in self.budget else None


class Manifest(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    datasets: list[DatasetRef] = Field(min_length=1)
    codecs: list[CodecRef] = Field(min_length=1)
    attacks: list[PluginRef] = Field(default_factory=list)
    defenses: list[PluginRef] = Field(default_factory=list)
    metrics: list[PluginRef] = Field(
        default_factory=list, description="unset: the metrics in the `default` role"
    )
    clean: bool = Field(default=True, description="also run the no-attack, no-defense cells")
    draws: int = Field(
        default=1, ge=1, description="draws of a randomized defense; mean and @worst are stored"
    )
    train_data: DatasetRef | None = Field(
        default=None, description="what trained artifacts (backdoors, fine-tuning) train on"
    )
    val_data: DatasetRef | None = Field(
        default=None, description="validation images of every training run (default: held out)"
    )
    leaderboard: LeaderboardConfig = Field(default_factory=LeaderboardConfig)
    threat_models: list[ThreatModel] = Field(
        default_factory=list, description="robust leaderboard tables (worst over attacks)"
    )
    exclude: list[Exclude] = Field(
        default_factory=list, description="cells left out of the matrix, by rule"
    )
    resources: Resources = Field(
        default=Resources(), description="what one task needs on a cluster (--executor ray)"
    )


def check_threat_models(m: Manifest) -> None:
    """Every attack a threat model counts is one ``m`` runs (its standard sets joined:
    :func:`licbench.bench.checker.with_defaults` calls it)."""
    known = {a.display for a in m.attacks} | {a.name for a in m.attacks}
    for tm in m.threat_models:
        for name in tm.attacks:
            if name not in known:
                near = nearest(name, sorted(known))
                hint = f"did you mean '{near}'?" if near else "list it under attacks"
                raise ValueError(
                    f"threat model '{tm.name}' counts attack '{name}', which the manifest "
                    f"does not run; {hint}"
                )


MAX_CELLS = 20_000  # one manifest's matrix, before exclusions


def matrix_size(m: Manifest) -> int:
    """How many cells the matrix has before exclusions (``clean`` adds the none rows)."""
    attacks = len(m.attacks) + (m.clean or not m.attacks)
    defenses = len(m.defenses) + (m.clean or not m.defenses)
    return len(m.datasets) * sum(len(c.qualities) for c in m.codecs) * attacks * defenses
