"""The matrix of a manifest: its cells (dataset x codec x quality x attack x defense), the
ones its ``exclude`` rules and the plugins' declared codecs leave out, and each cell's labels
and config. Free of torch: ``licbench validate`` counts cells without importing the codecs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from licbench.api.quantization import DELIVERY
from licbench.bench.manifest import CodecRef, DatasetRef, Exclude, Manifest, PluginRef
from licbench.plugin.registry import Registry

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

    def labels(self) -> dict[str, Any]:
        """How the cell is shown and stored: dataset, codec label, quality, attack and
        defense labels (``none`` for neither). The one home of these labels: `verify` joins
        a bundle's cells to re-run ones on them."""
        return {
            "dataset": self.dataset.label or self.dataset.name,
            "label": self.codec.display,
            "quality": self.quality,
            "attack": self.attack.display if self.attack else "none",
            "defense": self.defense.display if self.defense else "none",
        }

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
        if self.attack is not None:  # how attacked inputs reach the codec
            out["delivery"] = DELIVERY
        if artifacts:  # only cells that use a trained artifact depend on the training data
            out["artifacts"] = artifacts
            out["train_data"] = dump(manifest.train_data)
            out["val_data"] = dump(manifest.val_data)
        return out


def expand(manifest: Manifest, registry: Registry | None = None) -> list[Cell]:
    """The cells of the matrix, ordered dataset > codec > quality > attack > defense."""
    return matrix(manifest, registry)[0]


def matrix(manifest: Manifest, registry: Registry | None = None) -> tuple[list[Cell], Counter[str]]:
    """The cells, and how many the manifest's ``exclude`` rules and the plugins' own
    :meth:`applies_to` (given a registry) left out, by reason."""
    # clean: false drops `none` from an axis, but only from one that lists something
    attacks: list[PluginRef | None] = [None] if manifest.clean or not manifest.attacks else []
    defenses: list[PluginRef | None] = [None] if manifest.clean or not manifest.defenses else []
    attacks += manifest.attacks
    defenses += manifest.defenses
    kept, left_out = [], Counter[str]()
    for cell in (
        Cell(d, c, q, a, f)
        for d in manifest.datasets
        for c in manifest.codecs
        for q in c.qualities
        for a in attacks
        for f in defenses
    ):
        reason = _left_out(cell, manifest.exclude, registry)
        if reason:
            left_out[reason] += 1
        else:
            kept.append(cell)
    return kept, left_out


def _names(ref: PluginRef | None) -> set[str | None]:
    return {"none"} if ref is None else {ref.name, ref.display}


def _left_out(cell: Cell, rules: list[Exclude], registry: Registry | None) -> str | None:
    """Why ``cell`` is not in the matrix (None: it is)."""
    for rule in rules:
        given: dict[str, tuple[str | None, set[str | None]]] = {
            "dataset": (rule.dataset, {cell.dataset.name, cell.dataset.label}),
            "codec": (rule.codec, _names(cell.codec)),
            "attack": (rule.attack, _names(cell.attack)),
            "defense": (rule.defense, _names(cell.defense)),
        }
        names_match = all(v is None or v in names for v, names in given.values())
        if names_match and rule.quality in (None, cell.quality):
            return "excluded by a rule"
    if registry is None:
        return None
    codec = registry.get("codec", cell.codec.name)
    for role in ROLES:
        ref = cell.ref(role)
        if ref is not None and not registry.get(role, ref.name).applies_to(codec):
            return f"{ref.name} does not apply to {cell.codec.name}"
    return None
