"""Benchmark manifests: a YAML file declaring the matrix
datasets x codecs x qualities x attacks x defenses x metrics.

A manifest may ``include`` other manifests (paths relative to it); keys in the including
file override included ones, mappings merge and lists replace. Every error names the file,
line and key, and a misspelt plugin name comes with the nearest valid one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from licbench.api.executor import Resources
from licbench.bench.yaml_loader import read_yaml
from licbench.budget import parse_eps
from licbench.errors import LicbenchError, ParamsError, nearest
from licbench.labels import seed_label
from licbench.plugin.params import Loc, Params, model_at, nested_plugins
from licbench.plugin.params import dotted as _dotted
from licbench.plugin.registry import PluginEntry, Registry

Proxy = Literal["noise", "ste", "none"]
PROXIES: tuple[Proxy, ...] = ("noise", "ste", "none")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginRef(_Strict):
    """A plugin by name with its constructor params; a bare string is shorthand."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def display(self) -> str:
        return self.label or self.name


class DatasetRef(PluginRef):
    limit: int | None = Field(default=None, ge=1, description="use the first N images")
    crop: int | None = Field(default=None, ge=16, description="centre-crop each image to N×N")


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
    return [
        PluginRef(name=n, label=seed_label(f"{n}@{tm.name}", s), params={**params, "seed": s})
        for n, params in _members(tm, std, registry).items()
        for s in range(std.seeds)
    ]


def _members(tm: ThreatModel, std: StandardSet, registry: Registry) -> dict[str, dict[str, Any]]:
    """The params of each standard-set member (before its seed), by the plugin's name: the
    attacks in the roles ``white-box``, ``transfer`` and ``gradient-free``, in that order."""
    base = {"objective": tm.goal, "eps": tm.eps}
    grad = {**base, "quantization": list(std.proxies), "iters": std.iters}
    params: dict[str, dict[str, Any]] = {
        "white-box": {**grad, "restarts": std.restarts, "draws": std.draws},
        "transfer": grad,
        "gradient-free": {**base, "queries": std.queries},
    }
    return {registry.role("attack", role).name: p for role, p in params.items()}


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


def _with_standard(m: Manifest, registry: Registry) -> None:
    """Each threat model's standard set joins the matrix, once."""
    for tm in m.threat_models:
        if tm.standard is None:
            continue
        have = {a.display for a in m.attacks}
        extra = standard_attacks(tm, registry)
        m.attacks += [a for a in extra if a.display not in have]
        tm.attacks += [a.display for a in extra if a.display not in tm.attacks]


def _with_adaptive(m: Manifest, registry: Registry) -> None:
    """Each standard set gains the adaptive attacks the manifest's defenses declare."""
    for tm in m.threat_models:
        std = tm.standard
        if std is None or not m.defenses:
            continue
        members = _members(tm, std, registry)
        white_box = members[registry.role("attack", "white-box").name]  # its cost knobs
        refs, rules = adaptive_attacks(m, registry, "{name}@" + tm.name, white_box, std.seeds)
        have = {a.display for a in m.attacks}
        m.attacks += [r for r in refs if r.display not in have]
        m.exclude += [r for r in rules if r not in m.exclude]
        tm.attacks += [r.display for r in refs if r.display not in tm.attacks]


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

    @model_validator(mode="after")
    def _threat_model_attacks(self) -> Manifest:
        check_threat_models(self, [t for t in self.threat_models if t.standard is None])
        return self


def check_threat_models(m: Manifest, tms: list[ThreatModel]) -> None:
    """Every attack a threat model of ``tms`` counts is one ``m`` runs."""
    known = {a.display for a in m.attacks} | {a.name for a in m.attacks}
    for tm in tms:
        for name in tm.attacks:
            if name not in known:
                near = nearest(name, sorted(known))
                hint = f"did you mean '{near}'?" if near else "list it under attacks"
                raise ValueError(
                    f"threat model '{tm.name}' counts attack '{name}', which the manifest "
                    f"does not run; {hint}"
                )


# --- validation ---------------------------------------------------------------------------

KIND_OF_FIELD = {
    "datasets": "dataset",
    "codecs": "codec",
    "attacks": "attack",
    "defenses": "defense",
    "metrics": "metric",
    "train_data": "dataset",
    "val_data": "dataset",
}


def _where(path: Path, lines: dict[Loc, tuple[Path, int]], loc: Loc) -> str:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            file, line = lines[loc[:n]]
            return f"{file}:{line}"
    return str(path)


def _schema_error(path: Path, lines: dict[Loc, tuple[Path, int]], err: ValidationError) -> str:
    errors = err.errors()
    # A misspelt key also makes the intended key "missing": report the misspelling.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        model = model_at(Manifest, loc[:-1])
        hint = nearest(key, model.model_fields) if model else None
        msg = f"unknown key '{key}'" + (f", did you mean '{hint}'?" if hint else "")
    elif first["type"] == "missing":
        msg = "required key is missing"
    return f"{_where(path, lines, loc)}: {_dotted(loc)}: {msg}"


def _check_plugins(
    manifest: Manifest, registry: Registry, path: Path, lines: dict[Loc, tuple[Path, int]]
) -> None:
    check = _Checker(registry, path, lines)
    for fld, kind in KIND_OF_FIELD.items():
        value = getattr(manifest, fld)
        refs = value if isinstance(value, list) else ([value] if value else [])
        for i, ref in enumerate(refs):
            loc: Loc = (fld, i) if isinstance(value, list) else (fld,)
            if kind == "codec":
                check.codec(ref, loc)
            else:
                check.plugin(kind, ref.name, ref.params, loc)


class _Checker:
    """Checks plugin names and typed params, nested ones included, as FILE:LINE errors."""

    def __init__(self, registry: Registry, path: Path, lines: dict[Loc, tuple[Path, int]]):
        self.registry, self.path, self.lines = registry, path, lines

    def fail(self, loc: Loc, msg: str) -> LicbenchError:
        return LicbenchError(f"{_where(self.path, self.lines, loc)}: {_dotted(loc)}: {msg}")

    def entry(self, kind: str, name: str, loc: Loc) -> PluginEntry:
        if (kind, name) not in self.registry:
            hint = self.registry.suggest(kind, name)
            fix = f"did you mean '{hint}'?" if hint else "see `licbench plugins`"
            name_loc = (*loc, "name") if (*loc, "name") in self.lines else loc
            raise self.fail(name_loc, f"unknown {kind} '{name}'; {fix}")
        return self.registry.get(kind, name)

    def validate(self, entry: PluginEntry, params: dict[str, Any], loc: Loc) -> Params:
        try:
            return entry.validate(params)
        except ParamsError as exc:
            raise self.fail((*loc, *exc.loc), f"{entry.kind} '{entry.name}': {exc.msg}") from None

    def plugin(self, kind: str, name: str, params: dict[str, Any], loc: Loc) -> None:
        entry = self.entry(kind, name, loc)
        valid = self.validate(entry, params, (*loc, "params"))
        for sub, ref in nested_plugins(valid):
            self.plugin(ref.kind, ref.name, ref.params, (*loc, "params", *sub))

    def codec(self, ref: CodecRef, loc: Loc) -> None:
        entry = self.entry("codec", ref.name, loc)
        if "quality" in ref.params:
            raise self.fail(
                (*loc, "params", "quality"),
                "a codec's quality comes from its `qualities` list; move it there",
            )
        for i, q in enumerate(ref.qualities):
            try:
                entry.validate({"quality": q, **ref.params})
            except ParamsError as exc:
                on_quality = exc.loc in ((), ("quality",))  # a quality field or model check
                at = (*loc, "qualities", i) if on_quality else (*loc, "params", *exc.loc)
                raise self.fail(at, f"codec '{ref.name}': {exc.msg}") from None


def load_manifest(path: str | Path, registry: Registry | None = None) -> Manifest:
    """Read, merge includes, validate schema and plugin names; raise LicbenchError if bad."""
    path = Path(path)
    lines: dict[Loc, tuple[Path, int]] = {}
    return validated(read_yaml(path, lines), path, lines, registry)


MAX_CELLS = 20_000  # one manifest's matrix, before exclusions


def matrix_size(m: Manifest) -> int:
    """How many cells the matrix has before exclusions (``clean`` adds the none rows)."""
    attacks = len(m.attacks) + (m.clean or not m.attacks)
    defenses = len(m.defenses) + (m.clean or not m.defenses)
    return len(m.datasets) * sum(len(c.qualities) for c in m.codecs) * attacks * defenses


def with_defaults(m: Manifest, registry: Registry) -> None:
    """What a manifest leaves to plugins' roles: the default metrics, the anchor codec of
    BD-rates, and the attacks of each threat model's standard set (ValueError: a threat
    model the standard set does not cover)."""
    if "metrics" not in m.model_fields_set:
        m.metrics = [PluginRef(name=n) for n in registry.with_role("metric", "default")]
    if "anchor" not in m.leaderboard.model_fields_set:
        m.leaderboard.anchor = registry.role("codec", "anchor").name
    _with_standard(m, registry)
    check_threat_models(m, m.threat_models)


def validated(
    data: dict[str, Any],
    path: Path,
    lines: dict[Loc, tuple[Path, int]] | None = None,
    registry: Registry | None = None,
) -> Manifest:
    """A manifest from ``data`` (read from, or derived from, ``path``), its schema and every
    plugin name and parameter checked; errors name the file (and line, given ``lines``)."""
    lines = lines if lines is not None else {}
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise LicbenchError(_schema_error(path, lines, exc)) from None
    if registry is None:
        from licbench.plugin.manager import load_registry

        registry = load_registry()
    try:
        with_defaults(manifest, registry)
    except ValueError as exc:
        raise LicbenchError(f"{path}: {exc}") from None
    size = matrix_size(manifest)
    if size > MAX_CELLS:  # refused before anything is expanded or planned
        raise LicbenchError(
            f"{path}: a matrix of {size} cells, over the {MAX_CELLS}-cell limit of one "
            "manifest; split it into several"
        )
    _check_plugins(manifest, registry, path, lines)
    n = len(manifest.attacks)
    _with_adaptive(manifest, registry)
    if len(manifest.attacks) != n:  # the declared adaptive attacks, with their params
        _check_plugins(manifest, registry, path, lines)
        if matrix_size(manifest) > MAX_CELLS:
            raise LicbenchError(
                f"{path}: with the standard set's adaptive attacks and seeds, a matrix of "
                f"{matrix_size(manifest)} cells, over the {MAX_CELLS}-cell limit; split it"
            )
    return manifest
