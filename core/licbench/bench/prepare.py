"""The prepare stage and the plan of a run: every cell with its content key, its state and
the trained artifacts it needs.

A cell's key hashes its resolved config, the plugin and library versions, the dataset and
weight fingerprints, the seed and the device. A cell whose attack or defense trains an
artifact also holds that artifact's key and the manifest's ``train_data`` / ``val_data``;
the keys of other cells are unchanged by them. :func:`prepare` trains each missing
artifact once, before any cell that needs it runs; scoring only loads artifacts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from licbench.api.artifact import Recipe, Trained
from licbench.api.codec import Codec
from licbench.api.context import RunContext
from licbench.bench.manifest import CodecRef, DatasetRef, Manifest, PluginRef
from licbench.data import DataRef, fingerprint
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.plugin.registry import Registry

log = logging.getLogger("licbench")
ROLES = ("attack", "defense")


@dataclass
class Cell:
    dataset: DatasetRef
    codec: CodecRef
    quality: float
    attack: PluginRef | None
    defense: PluginRef | None

    def ref(self, role: str) -> PluginRef | None:
        return self.attack if role == "attack" else self.defense

    def config(self, manifest: Manifest, artifacts: dict[str, str]) -> dict[str, Any]:
        dump = lambda ref: ref.model_dump() if ref else None  # noqa: E731
        out = {
            "benchmark": manifest.name,
            "dataset": dump(self.dataset),
            "codec": self.codec.model_dump(exclude={"qualities"}),
            "quality": self.quality,
            "attack": dump(self.attack),
            "defense": dump(self.defense),
            "metrics": [m.name for m in manifest.metrics],
            "metric_params": [m.params for m in manifest.metrics],
        }
        if self.defense is not None and manifest.draws > 1:
            out["draws"] = manifest.draws
        if artifacts:  # only cells that use a trained artifact depend on the training data
            out["artifacts"] = artifacts
            out["train_data"] = dump(manifest.train_data)
            out["val_data"] = dump(manifest.val_data)
        return out


def expand(manifest: Manifest) -> list[Cell]:
    """All cells, ordered dataset > codec > quality > attack > defense."""
    # clean: false drops `none` from an axis, but only from one that lists something
    attacks: list[PluginRef | None] = [None] if manifest.clean or not manifest.attacks else []
    defenses: list[PluginRef | None] = [None] if manifest.clean or not manifest.defenses else []
    attacks += manifest.attacks
    defenses += manifest.defenses
    return [
        Cell(d, c, q, a, f)
        for d in manifest.datasets
        for c in manifest.codecs
        for q in c.qualities
        for a in attacks
        for f in defenses
    ]


@dataclass
class Planned:
    """A cell with its key, whether the database holds it, and its artifacts."""

    cell: Cell
    key: str
    payload: dict[str, Any]
    stored: bool = False
    recipes: dict[str, Recipe] = field(default_factory=dict)
    error: LicbenchError | None = None

    @property
    def state(self) -> str:
        return "stored" if self.stored else ("fails" if self.error else "to run")


class Planner:
    """Builds codecs one at a time, the recipes of trained plugins and the cell keys."""

    def __init__(self, manifest: Manifest, registry: Registry, ctx: RunContext, limit: int | None):
        self.m, self.registry, self.ctx, self.limit = manifest, registry, ctx, limit
        self._codec: tuple[str, Codec | LicbenchError] = ("", LicbenchError("no codec"))
        self._plugins: dict[str, Any] = {}
        self._fps: dict[str, str] = {}
        self._recipes: dict[str, Recipe] = {}

    def codec(self, ref: CodecRef, quality: float) -> Codec:
        """The cell's codec (one held at a time); a broken one raises its error each time."""
        key = hash_json([ref.model_dump(), quality])
        if self._codec[0] != key:
            q: float = int(quality) if float(quality).is_integer() else quality
            try:
                built = self.registry.create("codec", ref.name, quality=q, **ref.params)
                self._codec = (key, built.to(self.ctx.device))
            except LicbenchError as exc:
                self._codec = (key, exc)
        found = self._codec[1]
        if isinstance(found, LicbenchError):
            raise found
        return found

    def plugin(self, role: str, ref: PluginRef) -> Any:
        """One instance per attack or defense ref, used for recipes only."""
        key = hash_json([role, ref.model_dump()])
        if key not in self._plugins:
            self._plugins[key] = self.registry.create(role, ref.name, **ref.params)
        return self._plugins[key]

    def dataset_fingerprint(self, ref: DatasetRef) -> str:
        key = hash_json(ref.model_dump())
        if key not in self._fps:
            self._fps[key] = fingerprint(DataRef.of(ref), self.registry, self.limit)
        return self._fps[key]

    def recipes(self, cell: Cell, codec: Codec) -> dict[str, Recipe]:
        out: dict[str, Recipe] = {}
        for role in ROLES:
            ref = cell.ref(role)
            plugin = self.plugin(role, ref) if ref else None
            if isinstance(plugin, Trained):
                key = hash_json([role, ref.model_dump() if ref else None, codec.fingerprint()])
                if key not in self._recipes:  # every defense a backdoor meets shares it
                    self._recipes[key] = plugin.recipe(codec, self.ctx)
                out[role] = self._recipes[key]
        if len(out) == 2:
            raise LicbenchError("a trained attack and a trained defense in one cell; drop one")
        return out

    def versions(self, cell: Cell) -> dict[str, str]:
        refs = [
            ("dataset", cell.dataset),
            ("codec", cell.codec),
            *[(r, cell.ref(r)) for r in ROLES],
        ]
        out = package_versions()
        for kind, ref in [*refs, *[("metric", m) for m in self.m.metrics]]:
            if ref is not None:
                e = self.registry.get(kind, ref.name)
                out[f"{kind}:{ref.name}"] = f"{e.dist}=={e.version}"
        return out

    def plan(self, cell: Cell) -> Planned:
        error, recipes, weights = None, {}, "unavailable"
        try:
            codec = self.codec(cell.codec, cell.quality)
            weights = codec.fingerprint()
            recipes = self.recipes(cell, codec)
        except LicbenchError as exc:
            error = exc
        fps = {"dataset": self.dataset_fingerprint(cell.dataset), "weights": weights}
        payload = {
            "config": cell.config(self.m, {r: rec.key for r, rec in recipes.items()}),
            "versions": self.versions(cell),
            "fingerprints": fps,
            "seed": self.m.seed,
            "device": self.ctx.device.type,
            "limit_images": self.limit,
        }
        return Planned(cell, hash_json(payload), payload, recipes=recipes, error=error)


def plan(
    manifest: Manifest, registry: Registry, ctx: RunContext, limit: int | None, done: set[str]
) -> Iterator[Planned]:
    """Every cell of the manifest, planned (nothing is trained or scored)."""
    planner = Planner(manifest, registry, ctx, limit)
    for cell in expand(manifest):
        p = planner.plan(cell)
        p.stored = p.key in done
        yield p


def prepare(
    planned: list[Planned], manifest: Manifest, registry: Registry, ctx: RunContext
) -> dict[str, Path | LicbenchError]:
    """Train every artifact the planned cells need and the cache lacks, once each; the
    path (or the error) of each, by artifact key."""
    out: dict[str, Path | LicbenchError] = {}
    planner = Planner(manifest, registry, ctx, None)
    for p in planned:
        for role, recipe in p.recipes.items():
            if recipe.key in out:
                continue
            path = recipe.location(ctx.cache_dir)
            if path.is_file():
                out[recipe.key] = path
                continue
            ref = p.cell.ref(role)
            assert ref is not None
            out[recipe.key] = _train(planner, p, role, ref, recipe)
    return out


def _train(
    planner: Planner, p: Planned, role: str, ref: PluginRef, recipe: Recipe
) -> Path | LicbenchError:
    cell = p.cell
    log.info("prepare: %s %s for %s q=%g", role, ref.display, cell.codec.display, cell.quality)
    try:
        codec = planner.codec(p.cell.codec, p.cell.quality)
        plugin = planner.registry.create(role, ref.name, **ref.params)
        with torch.random.fork_rng():
            return plugin.train(codec, planner.ctx, recipe)  # type: ignore[no-any-return]
    except LicbenchError as exc:
        return exc
