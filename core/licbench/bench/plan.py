"""The plan of a run: every cell with its content key, its state and the trained artifacts
it needs. Nothing is trained or scored here.

A cell's key hashes its resolved config, the plugin and library versions, the dataset and
weight fingerprints, the seed and the device. A cell whose attack or defense trains an
artifact also holds that artifact's key and the manifest's ``train_data`` / ``val_data``;
the keys of other cells are unchanged by them. The prepare stage
(:mod:`licbench.bench.prepare`) trains each missing artifact once, before any cell that
needs it runs; scoring only loads artifacts.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from licbench.api.artifact import Recipe
from licbench.api.codec import Codec
from licbench.api.context import RunContext, numerics
from licbench.bench.cells import ROLES, Cell, expand
from licbench.bench.manifest import CodecRef, DatasetRef, Manifest, PluginRef
from licbench.data import DataRef, fingerprint
from licbench.errors import LicbenchError
from licbench.hashing import SEEDING, hash_json, package_versions
from licbench.plugin.registry import Registry


@dataclass
class Planned:
    """A cell with its key, whether the database holds it, and its artifacts."""

    cell: Cell
    key: str
    payload: dict[str, Any]
    stored: bool = False
    recipes: dict[str, Recipe] = field(default_factory=dict)
    error: LicbenchError | None = None
    kind: str = "clean"  # what the codec's input is: clean, adversarial or backdoor
    backdoor: str | None = None  # a backdoor cell: its artifact's key
    variant: str | None = None  # a backdoor cell: the trigger applied, or "clean"
    stored_error: str | None = None  # the database holds this cell as failed, with this

    @property
    def state(self) -> str:
        if self.stored:
            return "stored"
        if self.error:
            return "fails"
        return "failed" if self.stored_error is not None else "to run"


def as_error(exc: BaseException) -> LicbenchError:
    """A cell's failure as one line: licbench's own message, or the exception's type and
    message for anything else (a plugin's bug, an out-of-memory error)."""
    if isinstance(exc, LicbenchError):
        if exc.detail is None:
            exc.detail = "".join(traceback.format_exception(exc))
        return exc
    err = LicbenchError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    err.detail = "".join(traceback.format_exception(exc))  # the plugin's own file and line
    return err


class Codecs:
    """The codec of the cell at hand, built once and held alone (codecs can be large); a
    broken one raises its error for each cell that asks for it."""

    def __init__(self, registry: Registry, device: torch.device) -> None:
        self.registry, self.device = registry, device
        self._held: tuple[str, Codec | LicbenchError] = ("", LicbenchError("no codec"))

    def get(self, ref: CodecRef, quality: float) -> Codec:
        key = hash_json([ref.model_dump(), quality])
        if self._held[0] != key:
            q: float = int(quality) if float(quality).is_integer() else quality
            try:
                built = self.registry.create("codec", ref.name, quality=q, **ref.params)
                self._held = (key, built.to(self.device))
            except Exception as exc:  # recorded per cell; the run goes on
                self._held = (key, as_error(exc))
        found = self._held[1]
        if isinstance(found, LicbenchError):
            raise found
        return found


# images per call of an attack that batches, by device type: one on the CPU (batches of 8
# Kodak 256² crops ran at 0.7-0.8x the per-image throughput there: benchmarks/attack_batch.py),
# eight on a GPU
ATTACK_BATCH = {"cpu": 1, "cuda": 8}


class Planner:
    """The cell keys, with the recipes of the trained plugins they use."""

    def __init__(
        self,
        manifest: Manifest,
        registry: Registry,
        ctx: RunContext,
        limit: int | None,
        key_device: str | None = None,
        offline: bool = False,
        attack_batch: int = 1,
    ) -> None:
        """``key_device``: the device type the cells run on, if not ``ctx.device``'s;
        ``offline`` (a dry run): a dataset that is not here, for the cells or for training,
        stops the plan with a one-line error instead of downloading; ``attack_batch``:
        images per call of an attack that batches (above one, part of its cells' keys)."""
        self.m, self.registry, self.limit = manifest, registry, limit
        self.attack_batch = attack_batch
        self.ctx = replace(ctx, offline=True) if offline else ctx
        self.key_device = key_device or ctx.device.type
        self.codecs = Codecs(registry, ctx.device)
        self._plugins: dict[str, Any] = {}
        self._fps: dict[str, str] = {}
        self._recipes: dict[str, Recipe] = {}

    def codec(self, ref: CodecRef, quality: float) -> Codec:
        return self.codecs.get(ref, quality)

    def plugin(self, role: str, ref: PluginRef) -> Any:
        """One instance per attack or defense ref, for its recipe and key extras."""
        key = hash_json([role, ref.model_dump()])
        if key not in self._plugins:
            self._plugins[key] = self.registry.create(role, ref.name, **ref.params)
        return self._plugins[key]

    def dataset_fingerprint(self, ref: DatasetRef) -> str:
        key = hash_json(ref.model_dump())
        if key not in self._fps:
            self._fps[key] = fingerprint(
                DataRef.of(ref), self.registry, self.limit, offline=self.ctx.offline
            )
        return self._fps[key]

    def recipes(self, cell: Cell, codec: Codec) -> dict[str, Recipe]:
        out: dict[str, Recipe] = {}
        for role in ROLES:
            ref = cell.ref(role)
            if ref is None or not self.registry.get(role, ref.name).trained:
                continue
            key = hash_json([role, ref.model_dump(), codec.fingerprint()])
            if key not in self._recipes:  # every defense a backdoor meets shares it
                where = replace(self.ctx, device=torch.device(self.key_device))  # trains there
                self._recipes[key] = self.plugin(role, ref).recipe(codec, where)
            out[role] = self._recipes[key]
        if len(out) == 2:
            raise LicbenchError(
                "a trained attack and a trained defense in one cell are not supported; "
                "add an `exclude` or split the manifest"
            )
        return out

    def extras(self, cell: Cell) -> dict[str, dict[str, Any]]:
        """What plugins add to the key of their cells (e.g. how they draw noise)."""
        out = {}
        codec = self.codec(cell.codec, cell.quality).key_extras()
        if codec:
            out["codec"] = codec
        for role in ROLES:
            ref = cell.ref(role)
            extra = self.plugin(role, ref).key_extras() if ref else {}
            if extra:
                out[role] = extra
        return out

    def versions(self, cell: Cell) -> dict[str, str]:
        refs: list[tuple[str, Any]] = [("dataset", cell.dataset), ("codec", cell.codec)]
        refs += [(role, cell.ref(role)) for role in ROLES]
        out = package_versions()
        for kind, ref in [*refs, *[("metric", m) for m in self.m.metrics]]:
            if ref is not None:
                e = self.registry.get(kind, ref.name)
                out[f"{kind}:{ref.name}"] = f"{e.dist}=={e.version}"
        return out

    def plan(self, cell: Cell) -> Planned:
        error, recipes, weights, extras = None, {}, "unavailable", {}
        try:
            extras = self.extras(cell)
            codec = self.codec(cell.codec, cell.quality)
            weights = codec.fingerprint()
            recipes = self.recipes(cell, codec)
        except Exception as exc:  # the cell will fail with this; the others go on
            error = as_error(exc)
        kind, backdoor, variant = self.kind(cell, recipes)
        config = cell.config(self.m, {r: rec.key for r, rec in recipes.items()})
        if extras:
            config["key_extras"] = extras
        payload = {
            "config": config,
            "versions": self.versions(cell),
            "fingerprints": {"dataset": self.dataset_fingerprint(cell.dataset), "weights": weights},
            "seed": self.m.seed,
            "seeding": SEEDING,
            "device": self.key_device,
            **({"numerics": numerics(self.key_device)} if numerics(self.key_device) else {}),
            **({"attack_batch": self.attack_batch} if self.batches(cell) else {}),
            "limit_images": self.limit,
        }
        return Planned(
            cell, hash_json(payload), payload, recipes=recipes, error=error,
            kind=kind, backdoor=backdoor, variant=variant,
        )  # fmt: skip

    def batches(self, cell: Cell) -> bool:
        """Whether the cell's attack takes several images per call in this run: batched
        and single passes round differently, and a sign-gradient ascent can amplify the
        difference (benchmarks/attack_batch.py), so the batch enters the key."""
        if cell.attack is None or self.attack_batch == 1:
            return False
        try:
            return bool(self.plugin("attack", cell.attack).batched)
        except Exception:  # a broken attack fails the cell (its error is recorded)
            return False

    def kind(self, cell: Cell, recipes: dict[str, Recipe]) -> tuple[str, str | None, str | None]:
        """What the cell's input is, as the attack plugin declares it; for a backdoor, its
        artifact and the trigger applied."""
        if cell.attack is None:
            return "clean", None, None
        try:
            attack = self.plugin("attack", cell.attack)
        except Exception:  # a broken attack fails the cell (its error is recorded)
            return "adversarial", None, None
        if attack.kind != "backdoor":
            return str(attack.kind), None, None
        recipe = recipes.get("attack")
        return "backdoor", recipe.key if recipe else None, attack.variant()

    def plan_all(self, done: set[str], failed: dict[str, str] | None = None) -> list[Planned]:
        """Every cell of the manifest, planned (nothing is trained or scored); ``failed``:
        the keys stored as failed, with their errors."""
        planned = [self.plan(cell) for cell in expand(self.m, self.registry)]
        for p in planned:
            p.stored = p.key in done
            p.stored_error = (failed or {}).get(p.key)
        return planned
