"""The standard attack set of a threat model, and the adaptive attacks defenses declare:
which attacks (by role), with which params and labels, join a manifest's matrix."""

from __future__ import annotations

from typing import Any

from licbench.bench.manifest import Exclude, Manifest, PluginRef, StandardSet, ThreatModel
from licbench.labels import seed_label
from licbench.plugin.registry import Registry

STANDARD_GOALS = ("rate", "distortion")


def standard_attacks(tm: ThreatModel, registry: Registry) -> list[PluginRef]:
    """The standard set of a rate or distortion threat model with an L∞ budget, labelled
    ``NAME@THREAT-MODEL``: apgd with restarts, white-box through the defense (EoT where it is
    randomized, straight-through where it is not differentiable); pgd generated on the bare
    codec and transferred (gray-box); square, gradient-free on the real bitstream. Each
    gradient attack tries every quantization proxy and keeps the best per image. Each runs
    with ``seeds`` seeds (labelled ``#sN`` after the first). The attack each defense
    declares as its adaptive one joins with :func:`adaptive_attacks`."""
    std = tm.standard
    assert std is not None
    if tm.goal not in STANDARD_GOALS:
        raise ValueError(
            f"threat model '{tm.name}': the standard set covers goals rate and distortion, "
            f"not '{tm.goal}'; list its attacks instead"
        )
    if str(tm.budget.get("norm", "linf")).lower() != "linf" or tm.eps is None:
        raise ValueError(
            f"threat model '{tm.name}': the standard set needs budget {{norm: linf, eps: E}}"
        )
    names = [(registry.role("attack", r).name, p) for r, p in _members(tm, std).items()]
    return [
        PluginRef(name=n, label=seed_label(f"{n}@{tm.name}", s), params={**params, "seed": s})
        for n, params in names
        for s in range(std.seeds)
    ]


def _members(tm: ThreatModel, std: StandardSet) -> dict[str, dict[str, Any]]:
    """The params of each standard-set member (before its seed), by its role: the attacks
    in the roles ``white-box``, ``transfer`` and ``gradient-free``, in that order."""
    base = {"objective": tm.goal, "eps": tm.eps}
    grad = {**base, "quantization": list(std.proxies), "iters": std.iters}
    params: dict[str, dict[str, Any]] = {
        "white-box": {**grad, "restarts": std.restarts, "draws": std.draws},
        "transfer": grad,
        "gradient-free": {**base, "queries": std.queries},
    }
    return params


def adaptive_attacks(
    m: Manifest, registry: Registry, label: str, params: dict[str, Any], seeds: int = 1
) -> tuple[list[PluginRef], list[Exclude]]:
    """The adaptive attacks the manifest's defenses declare (``Defense.adaptive_attack``),
    each labelled ``label`` with ``{name}`` filled in (and ``#sN`` by seed), with the
    ``params`` its model takes, and the exclude rules that let each meet only the defenses
    that declare it."""
    declared: dict[str, list[str]] = {}
    for ref in m.defenses:
        name = getattr(registry.get("defense", ref.name).load(), "adaptive_attack", None)
        if name:
            declared.setdefault(name, []).append(ref.display)
    refs, rules = [], []
    for name, meets in declared.items():
        takes = registry.get("attack", name).params_model.model_fields
        kept = {k: v for k, v in params.items() if k in takes}
        others = ["none"] + [d.display for d in m.defenses if d.display not in meets]
        for s in range(seeds):
            seeded = {**kept, "seed": s} if "seed" in takes else kept
            tag = seed_label(label.format(name=name), s)
            ref = PluginRef(name=name, label=tag, params=seeded)
            refs.append(ref)
            rules += [Exclude(attack=ref.display, defense=d) for d in others]
    return refs, rules


def with_standard(m: Manifest, registry: Registry) -> None:
    """Each threat model's standard set joins the matrix, once."""
    for tm in m.threat_models:
        if tm.standard is None:
            continue
        have = {a.display for a in m.attacks}
        extra = standard_attacks(tm, registry)
        m.attacks += [a for a in extra if a.display not in have]
        tm.attacks += [a.display for a in extra if a.display not in tm.attacks]


def with_adaptive(m: Manifest, registry: Registry) -> None:
    """Each standard set gains the adaptive attacks the manifest's defenses declare."""
    for tm in m.threat_models:
        std = tm.standard
        if std is None or not m.defenses:
            continue
        white_box = _members(tm, std)["white-box"]  # the adaptive attacks take its knobs
        refs, rules = adaptive_attacks(m, registry, "{name}@" + tm.name, white_box, std.seeds)
        have = {a.display for a in m.attacks}
        m.attacks += [r for r in refs if r.display not in have]
        m.exclude += [r for r in rules if r not in m.exclude]
        tm.attacks += [r.display for r in refs if r.display not in tm.attacks]
