"""`licbench audit`: the checklist of Carlini et al. 2019 ("On Evaluating Adversarial
Robustness"), run per (codec, defense) of a manifest.

The audit is a benchmark of its own, ``NAME-audit``: the manifest's datasets, codecs and
defenses crossed with the attacks the checks need, run and stored like any other cells
(keyed, resumable, on any executor). Its threat model ``budget`` records the goal and ε.
Per codec and defense, averaged over qualities and images, the damage of an attack is its
rate × clean − 1 (goal rate) or its PSNR drop in dB (goal distortion). The checks:

1. **ε sweep**: damage grows with ε (1, 2, 4, 8, 16/255; the budget's ε added);
2. **unbounded**: apgd with ε = 1 reaches a large blow-up (rate × 1.5, or a 10 dB drop);
3. **noise**: random ±ε noise does at most half the attack's damage;
4. **white > gray**: the white-box attack (apgd through the defense) does at least the
   transferred one's damage (pgd generated on the bare codec);
5. **gradient-free**: square does not beat the gradient attacks;
6. **converged**: twice the iterations and two more restarts change the damage by at most
   10 % (plus a small floor).

A defense failing one is flagged: its robustness claim rests on a weak or masked attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from licbench.bench.manifest import Manifest, PluginRef, ThreatModel, validated
from licbench.errors import LicbenchError
from licbench.leaderboard.audit import BLOW_UP, eps_label, sweep_steps


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
        name="budget", goal="rate", budget={"norm": "linf", "eps": "4/255"}, attacks=["pgd"]
    )


def audit_manifest(
    m: Manifest, cfg: AuditConfig, path: Path, threat_model: str | None = None
) -> Manifest:
    """The audit benchmark of manifest ``m`` (read from ``path``): its datasets, codecs and
    defenses, the attacks of every check, and the threat model ``budget`` naming the goal
    and ε audited; validated like a manifest file."""
    tm = _goal(m, threat_model)
    eps = tm.eps if tm.eps is not None else 4 / 255
    steps, at = sweep_steps(eps)
    grad = {"objective": tm.goal, "iters": cfg.iters, "quantization": cfg.proxy}
    apgd = {**grad, "draws": cfg.draws}
    attacks = [
        *(
            PluginRef(name="apgd", label=eps_label(k), params={**apgd, "eps": k / 255})
            for k in steps
        ),
        PluginRef(name="apgd", label="apgd-unbounded", params={**apgd, "eps": 1.0}),
        PluginRef(
            name="apgd",
            label="apgd-long",
            params={**apgd, "eps": eps, "iters": 2 * cfg.iters, "restarts": 3},
        ),
        PluginRef(name="pgd", label="pgd-transfer", params={**grad, "eps": eps}),
        PluginRef(
            name="square",
            label="square",
            params={"objective": tm.goal, "eps": eps, "queries": cfg.queries},
        ),
        PluginRef(name="random-noise", label="random-noise", params={"eps": eps}),
    ]
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
        "attacks": [a.model_dump() for a in attacks],
        "metrics": ["bpp", "psnr"],
        "clean": True,
        "threat_models": [budget.model_dump()],
        "leaderboard": {"rank_by": "bpp", "anchor": None},
    }
    return validated(data, path)
