"""Checking a manifest: its schema, every plugin name and parameter (nested ones too) as
``FILE:LINE: key: message`` errors with did-you-mean hints, and what plugins' roles supply
(default metrics, the anchor codec, the standard set and the declared adaptive attacks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from licbench.bench.manifest import (
    MAX_CELLS,
    CodecRef,
    Manifest,
    PluginRef,
    check_threat_models,
    matrix_size,
)
from licbench.bench.threats import with_adaptive, with_standard
from licbench.bench.yaml_loader import read_yaml
from licbench.errors import LicbenchError, ParamsError
from licbench.plugin.params import Loc, Params, describe_error, nested_plugins
from licbench.plugin.params import dotted as _dotted
from licbench.plugin.registry import PluginEntry, Registry

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
    loc, msg = describe_error(Manifest, err, noun="key")
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


def load_manifest(path: str | Path, registry: Registry) -> Manifest:
    """Read, merge includes, validate schema and plugin names; raise LicbenchError if bad."""
    path = Path(path)
    lines: dict[Loc, tuple[Path, int]] = {}
    return validated(read_yaml(path, lines), path, lines, registry=registry)


def with_defaults(m: Manifest, registry: Registry) -> None:
    """What a manifest leaves to plugins' roles: the default metrics, the anchor codec of
    BD-rates, and the attacks of each threat model's standard set (ValueError: a threat
    model the standard set does not cover)."""
    if "metrics" not in m.model_fields_set:
        m.metrics = [PluginRef(name=n) for n in registry.with_role("metric", "default")]
    if "anchor" not in m.leaderboard.model_fields_set:
        m.leaderboard.anchor = registry.role("codec", "anchor").name
    with_standard(m, registry)
    check_threat_models(m)


def validated(
    data: dict[str, Any],
    path: Path,
    lines: dict[Loc, tuple[Path, int]] | None = None,
    *,
    registry: Registry,
) -> Manifest:
    """A manifest from ``data`` (read from, or derived from, ``path``), its schema and every
    plugin name and parameter checked; errors name the file (and line, given ``lines``)."""
    lines = lines if lines is not None else {}
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise LicbenchError(_schema_error(path, lines, exc)) from None
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
    with_adaptive(manifest, registry)
    if len(manifest.attacks) != n:  # the declared adaptive attacks, with their params
        _check_plugins(manifest, registry, path, lines)
        if matrix_size(manifest) > MAX_CELLS:
            raise LicbenchError(
                f"{path}: with the standard set's adaptive attacks and seeds, a matrix of "
                f"{matrix_size(manifest)} cells, over the {MAX_CELLS}-cell limit; split it"
            )
    return manifest
