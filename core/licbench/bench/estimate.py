"""Time before work: each planned cell's seconds, estimated from stored timings.

A stored cell is comparable to a planned one when it has the same codec, attack and defense
plugins and the same image size (dataset and crop). Its seconds per image are scaled by the
ratio of the two attacks' work (steps × draws × restarts × proxies × queries, from their
validated parameters) and by the planned number of images. Where several stored cells are
comparable, the median is taken; where none is, the cell has no estimate, and says so.
Training artifacts is not included: the cells' own times only.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from licbench.bench.plan import Planned
from licbench.plugin.registry import Registry

WORK = ("iters", "draws", "restarts", "queries")


def _name(ref: dict[str, Any] | None) -> str:
    return ref["name"] if ref else "none"


def comparable(config: dict[str, Any]) -> tuple[str, ...]:
    """What makes two cells' times comparable: codec, attack, defense, image size."""
    data = config.get("dataset") or {}
    return (
        _name(config.get("codec")),
        _name(config.get("attack")),
        _name(config.get("defense")),
        str(data.get("name")),
        str(data.get("crop")),
    )


class Work:
    """An attack's work units from its parameters (defaults filled in by its model)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._seen: dict[str, float] = {}

    def __call__(self, ref: dict[str, Any] | None) -> float:
        if not ref:
            return 1.0
        key = json.dumps([ref["name"], ref.get("params", {})], sort_keys=True, default=str)
        if key not in self._seen:
            try:
                params = self.registry.get("attack", ref["name"]).validate(ref.get("params", {}))
                p = params.model_dump()
            except Exception:  # an attack no longer registered: count its given params
                p = ref.get("params", {})
            units = 1.0
            for f in WORK:
                units *= float(p.get(f) or 1)
            proxies = p.get("quantization")
            units *= len(proxies) if isinstance(proxies, list) else 1
            self._seen[key] = units
        return self._seen[key]


@dataclass
class Estimate:
    """Seconds per planned cell (None: nothing comparable stored) and their total."""

    seconds: dict[str, float | None]

    @property
    def total(self) -> float:
        return sum(s for s in self.seconds.values() if s is not None)

    @property
    def unknown(self) -> int:
        return sum(s is None for s in self.seconds.values())

    def line(self, cells: int | None = None) -> str:
        """``estimated H h M min for N cells (k without an estimate)``."""
        n = len(self.seconds) if cells is None else cells
        if n == 0:
            return "nothing to run"
        if self.unknown == n:
            return f"no estimate for {n} cells: no comparable cell stored yet"
        extra = f" ({self.unknown} without one: nothing comparable stored)" if self.unknown else ""
        return f"estimated {duration(self.total)} for {n} cells{extra}"


def duration(seconds: float) -> str:
    """``1 h 05 min``, ``12 min``, ``40 s``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def estimate(planned: list[Planned], cells: pd.DataFrame, registry: Registry) -> Estimate:
    """Seconds for each planned cell (stored or not), from the stored ``cells`` frame."""
    work = Work(registry)
    per_image: dict[tuple[str, ...], list[tuple[float, float, int]]] = {}
    counts: dict[str, int] = {}  # images of a full run of each dataset reference
    done = cells[(cells.status == "done") & (cells.n_images > 0)] if len(cells) else cells
    for row in done.itertuples():
        try:
            cfg = json.loads(row.config)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(float(row.seconds or "nan")):  # an import may carry no timing
            continue
        data = json.dumps(cfg.get("dataset"), sort_keys=True)
        counts[data] = max(counts.get(data, 0), int(row.n_images))
        per_image.setdefault(comparable(cfg), []).append(
            (float(row.seconds) / int(row.n_images), work(cfg.get("attack")), int(row.n_images))
        )
    out: dict[str, float | None] = {}
    for p in planned:
        cfg = p.payload["config"]
        found = per_image.get(comparable(cfg))
        if not found:
            out[p.key] = None
            continue
        units = work(cfg.get("attack"))
        data = json.dumps(cfg.get("dataset"), sort_keys=True)
        n = p.cell.dataset.limit or counts.get(data) or max(k for *_, k in found)
        n = min(n, p.payload.get("limit_images") or n)  # a run narrowed by --limit-images
        out[p.key] = n * statistics.median(s * units / u for s, u, _ in found)
    return Estimate(out)


def describe_plan(
    planned: list[Planned], estimator: Callable[[list[Planned]], Estimate]
) -> list[dict[str, Any]]:
    """The rows of a dry run: state, benchmark, key, cell, artifacts (and, under ``after``,
    the artifacts each starts from), error, estimated seconds."""
    from licbench.bench.work import describe

    expected = estimator(planned)
    return [
        {
            "state": p.state,
            "benchmark": p.payload["config"]["benchmark"],
            "key": p.key,
            "cell": describe(p.cell),
            "artifacts": {role: r.key for role, r in p.recipes.items()},
            "after": {r.key: list(r.after) for r in p.recipes.values() if r.after},
            "error": str(p.error) if p.error else p.stored_error,
            "estimated_seconds": expected.seconds.get(p.key),
        }
        for p in planned
    ]
