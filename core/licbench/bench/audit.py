"""`licbench audit`, the run side: the audit benchmark ``NAME-audit`` of a manifest (its
datasets, codecs and defenses crossed with the attacks the checks need), run and stored
like any other cells (keyed, resumable, on any executor), a run of kind ``audit``. Its
threat model ``budget`` records the goal and ε. The checks themselves (Carlini et al.
2019) and their verdicts are read-side: :mod:`licbench.leaderboard.audit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from licbench.bench.checker import validated
from licbench.bench.manifest import Manifest, PluginRef, ThreatModel
from licbench.bench.threats import adaptive_attacks
from licbench.errors import LicbenchError
from licbench.labels import ADAPTIVE, AUDIT
from licbench.leaderboard.audit import BLOW_UP, eps_label, sweep_steps
from licbench.plugin.registry import Registry


@dataclass(frozen=True)
class AuditConfig:
    """Cost knobs of the audit's attacks."""

    iters: int = 20
    draws: int = 4
    queries: int = 300
    images: int | None = 4
    proxy: str = "noise"


def _goal(m: Manifest, name: str | None) -> ThreatModel:
    tms = [t for t in m.threat_models if name in (None, t.name)]
    tms = [t for t in tms if t.goal in BLOW_UP]
    if name and not tms:
        raise LicbenchError(f"{m.name}: no rate or distortion threat model '{name}' to audit")
    if tms:
        return tms[0]
    return ThreatModel(
        name="budget", goal="rate", budget={"norm": "linf", "eps": "4/255"}, attacks=["none"]
    )


def audit_manifest(
    m: Manifest,
    cfg: AuditConfig,
    path: Path,
    registry: Registry,
    threat_model: str | None = None,
) -> Manifest:
    """The audit benchmark of manifest ``m`` (read from ``path``): its datasets, codecs and
    defenses, the attacks of every check (each defense's declared adaptive attack, labelled
    ``adaptive-NAME``, among them), and the threat model ``budget`` naming the goal and ε
    audited; validated like a manifest file. Its attacks are the plugins in the roles
    ``white-box``, ``transfer``, ``gradient-free`` and ``noise``, labelled as
    :data:`licbench.labels.AUDIT` says."""
    tm = _goal(m, threat_model)
    eps = tm.eps if tm.eps is not None else 4 / 255
    steps, at = sweep_steps(eps)
    white, transfer, query, noise = (
        registry.role("attack", r).name for r in ("white-box", "transfer", "gradient-free", "noise")
    )
    grad = {"objective": tm.goal, "iters": cfg.iters, "quantization": cfg.proxy}
    apgd = {**grad, "draws": cfg.draws}
    long = {**apgd, "eps": eps, "iters": 2 * cfg.iters, "restarts": 3}
    attacks = [
        *(
            PluginRef(name=white, label=eps_label(k), params={**apgd, "eps": k / 255})
            for k in steps
        ),
        PluginRef(name=white, label=AUDIT["unbounded"], params={**apgd, "eps": 1.0}),
        PluginRef(name=white, label=AUDIT["converged"], params=long),
        PluginRef(name=transfer, label=AUDIT["transfer"], params={**grad, "eps": eps}),
        PluginRef(
            name=query,
            label=AUDIT["gradient-free"],
            params={"objective": tm.goal, "eps": eps, "queries": cfg.queries},
        ),
        PluginRef(name=noise, label=AUDIT["noise"], params={"eps": eps}),
    ]
    adaptive, rules = adaptive_attacks(m, registry, ADAPTIVE, {**apgd, "eps": eps})
    budget = ThreatModel(
        name="budget",
        goal=tm.goal,
        budget={"norm": "linf", "eps": tm.budget.get("eps", "4/255")},
        attacks=[at],
    )
    data = {
        **m.model_dump(),
        "name": f"{m.name}-audit",
        "description": f"Carlini et al. 2019 checklist for {m.name} ({tm.goal}, ε {eps:.4g})",
        "datasets": [
            {**d.model_dump(), "limit": d.limit if cfg.images is None else cfg.images}
            for d in m.datasets
        ],
        "attacks": [a.model_dump() for a in [*attacks, *adaptive]],
        "exclude": [r.model_dump() for r in [*m.exclude, *rules]],
        "metrics": ["bpp", "psnr"],
        "clean": True,
        "threat_models": [budget.model_dump()],
        "leaderboard": {"rank_by": "bpp", "anchor": None},
    }
    return validated(data, path, registry=registry)
