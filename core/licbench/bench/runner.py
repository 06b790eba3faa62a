"""Run a manifest's cells, skipping cells the database already holds.

A cell is one (dataset, codec, quality, attack, defense) combination scored with every
metric of the manifest. The run plans every cell first (its content key: see
:mod:`licbench.bench.prepare`), trains the artifacts the cells to run need, then scores
them; a re-run of the same manifest resumes where an interrupted run stopped.
"""

from __future__ import annotations

import logging
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from licbench.api.artifact import Trained
from licbench.api.attack import Attack
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.context import RunContext
from licbench.api.defense import Defense
from licbench.api.metric import Metric
from licbench.bench.evaluate import score_image
from licbench.bench.manifest import DatasetRef, Manifest
from licbench.bench.prepare import Cell, Planned, Planner, expand
from licbench.bench.store import ResultStore
from licbench.data import DataRef, load
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.paths import cache_dir
from licbench.plugin.manager import get_registry
from licbench.plugin.registry import Registry

log = logging.getLogger("licbench")
__all__ = ["Cell", "Runner", "expand", "resolve_device"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise LicbenchError("--device cuda asked for, but torch sees no CUDA GPU; use cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@dataclass
class RunSummary:
    run_id: int
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


def describe(cell: Cell) -> str:
    """``dataset codec q=Q attack/defense`` for logs and summaries."""
    attack = cell.attack.display if cell.attack else "none"
    defense = cell.defense.display if cell.defense else "none"
    dataset = cell.dataset.label or cell.dataset.name
    return f"{dataset} {cell.codec.display} q={cell.quality:g} {attack}/{defense}"


class Runner:
    """Runs a manifest's cells into a :class:`ResultStore`."""

    def __init__(
        self,
        manifest: Manifest,
        store: ResultStore,
        *,
        device: str | None = None,
        limit_images: int | None = None,
        manifest_path: str = "",
        registry: Registry | None = None,
        progress: bool | None = None,
    ) -> None:
        self.m = manifest
        self.store = store
        self.registry = registry or get_registry()
        self.device = resolve_device(device or manifest.device)
        self.limit = limit_images
        self.manifest_path = manifest_path
        self.progress = progress
        self.ctx = RunContext(
            self.device, manifest.seed, cache_dir(), manifest.train_data, manifest.val_data
        )
        self._images: dict[str, list[tuple[str, torch.Tensor]]] = {}
        # gray-box adversarial inputs of the current (attack, codec, quality, dataset), shared
        # by the cells that cross them with different defenses
        self._adv: tuple[str, dict[str, torch.Tensor]] = ("", {})
        self.metrics: list[Metric] = [
            self.registry.create("metric", r.name, **r.params) for r in manifest.metrics
        ]

    # --- building blocks ---------------------------------------------------------------

    def images(self, ref: DatasetRef) -> list[tuple[str, torch.Tensor]]:
        """The dataset's (name, image) list, limited and cropped; loaded once."""
        key = hash_json(ref.model_dump())
        if key not in self._images:
            images = load(DataRef.of(ref), self.registry, self.limit)
            self._check_sizes(ref, images)
            self._images[key] = images
        return self._images[key]

    def _check_sizes(self, ref: DatasetRef, images: list[tuple[str, torch.Tensor]]) -> None:
        need = max([m.min_size for m in self.metrics], default=1)
        for name, x in images:
            h, w = x.shape[-2:]
            if min(h, w) < need:
                who = [m.name for m in self.metrics if m.min_size > min(h, w)]
                raise LicbenchError(
                    f"dataset '{ref.name}' image {name} is {w}x{h}, smaller than the {need}px "
                    f"minimum of metric {who}; drop that metric or use larger images"
                )

    def _metric_rows(self) -> list[tuple[str, bool, str]]:
        rows = [(m.name, m.higher_is_better, m.unit) for m in self.metrics]
        if self.m.draws > 1 and self.m.defenses:
            rows += [(f"{n}@worst", h, u) for n, h, u in rows]
        return rows

    def planner(self) -> Planner:
        return Planner(self.m, self.registry, self.ctx, self.limit)

    def plan(self) -> list[Planned]:
        """Every cell with its key and state; nothing is trained or scored."""
        return self.planner().plan_all(self.store.done_keys())

    # --- the run -------------------------------------------------------------------------

    def run(self, on_cell: Callable[[str, str], None] | None = None) -> RunSummary:
        planner = self.planner()
        planned = planner.plan_all(self.store.done_keys())
        todo = [p for p in planned if not p.stored]
        for p in todo:  # a bad image stops the run before anything is written
            self.images(p.cell.dataset)
        artifacts = planner.prepare([p for p in todo if p.error is None])
        run_id = self.store.start_run(
            self.m.name, self.manifest_path, self.m.model_dump(), package_versions()
        )
        self.store.record_metrics(self._metric_rows())
        summary = RunSummary(run_id, len(planned))
        bar = tqdm(
            total=len(planned),
            desc=self.m.name,
            unit="cell",
            position=0,
            disable=self.progress is False,
            file=sys.stderr,
        )
        status = "failed"
        try:
            for p in planned:
                bar.set_postfix_str(describe(p.cell))
                outcome = "skipped" if p.stored else self._run_cell(p, planner, artifacts, run_id)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                if outcome == "failed":
                    summary.failures.append(describe(p.cell))
                if on_cell:
                    on_cell(outcome, p.cell.codec.display)
                bar.update(1)
            status = "finished"
        finally:
            bar.close()
            self.store.finish_run(run_id, status)
        return summary

    def _row(self, p: Planned, run_id: int) -> dict[str, Any]:
        cell = p.cell
        return {
            "key": p.key,
            "run_id": run_id,
            "benchmark": self.m.name,
            "dataset": cell.dataset.label or cell.dataset.name,
            "codec": cell.codec.name,
            "label": cell.codec.display,
            "quality": cell.quality,
            "attack": cell.attack.display if cell.attack else "none",
            "defense": cell.defense.display if cell.defense else "none",
            "config": p.payload["config"],
            "versions": p.payload["versions"],
            "fingerprints": p.payload["fingerprints"],
        }

    def _run_cell(
        self, p: Planned, planner: Planner, artifacts: dict[str, Path | LicbenchError], run_id: int
    ) -> str:
        row = self._row(p, run_id)
        images = self.images(p.cell.dataset)  # a bad dataset stops the run
        t0 = time.perf_counter()
        try:
            if p.error is not None:
                raise p.error
            codec = planner.codec(p.cell.codec, p.cell.quality)
            paths = {role: artifacts[r.key] for role, r in p.recipes.items()}
            row.update(family=codec.family, learned=isinstance(codec, LearnedCodec))
            row["config"] = {**row["config"], "codec_spec": codec.spec()}
            seed_everything(int(hash_json([self.m.seed, p.payload["config"]])[:8], 16))
            scores, timing = self._score(p.cell, codec, images, paths)
        except Exception as exc:  # a failing cell is recorded and the run goes on
            row.update(
                status="failed",
                seconds=time.perf_counter() - t0,
                error="".join(traceback.format_exception(exc)),
            )
            log.error("cell %s failed: %s", describe(p.cell), exc)
            self.store.record_cell(row, [])
            return "failed"
        row.update(
            status="done",
            n_images=len(images),
            seconds=time.perf_counter() - t0,
            codec_seconds=timing["codec"],
            metric_seconds=timing["metric"],
        )
        self.store.record_cell(row, scores)
        return "done"

    def _build(
        self, cell: Cell, codec: Codec, paths: dict[str, Path | LicbenchError]
    ) -> tuple[Attack | None, Defense | None, Codec, Codec]:
        """The attack, the defense, the victim codec and the defended codec of a cell."""
        built: dict[str, Any] = {}
        for role in ("attack", "defense"):
            ref = cell.ref(role)
            built[role] = self.registry.create(role, ref.name, **ref.params) if ref else None
            found = paths.get(role)
            if isinstance(found, LicbenchError):
                raise found
            if found is not None:
                assert isinstance(built[role], Trained)
                codec = built[role].load(codec, found)
        attack, defense = built["attack"], built["defense"]
        defended = defense.wrap(codec, self.ctx) if defense else codec
        return attack, defense, codec, defended

    def _score(
        self,
        cell: Cell,
        codec: Codec,
        images: list[tuple[str, torch.Tensor]],
        paths: dict[str, Path | LicbenchError],
    ) -> tuple[list[tuple[str, str, float]], dict[str, float]]:
        attack, defense, victim, defended = self._build(cell, codec, paths)
        target = defended if attack is not None and attack.adaptive else victim
        scores: list[tuple[str, str, float]] = []
        timing = {"codec": 0.0, "metric": 0.0}
        bar = tqdm(
            images,
            desc=f"  {describe(cell)}",
            unit="img",
            leave=False,
            position=1,
            disable=self.progress is False,
            file=sys.stderr,
        )
        draws = self.m.draws if defense is not None and defense.randomized else 1
        for name, x in bar:
            x_in = self._perturb(cell, attack, target, name, x) if attack else None
            runs = []
            for d in range(draws):
                if draws > 1:
                    defense.redraw(d)  # type: ignore[union-attr]
                values, facts = score_image(name, defended, x, self.metrics, x_in=x_in)
                timing["codec"] += facts["encode_s"] + facts["decode_s"] + facts["estimate_s"]
                timing["metric"] += facts["metric_s"]
                runs.append(values)
            scores += [(name, metric, v) for metric, v in over_draws(runs, self.metrics).items()]
        return scores, timing

    def _perturb(
        self, cell: Cell, attack: Attack, target: Codec, name: str, x: torch.Tensor
    ) -> torch.Tensor:
        """The attacked image. A gray-box attack does not see the defense, so its input is
        computed once per image, seeded by the attack, codec and image alone, and reused by
        every defense it meets; an adaptive attack is run against each defended codec."""
        x = x.to(self.device)
        ctx = self.ctx.for_image(name)
        if attack.adaptive:
            return attack.perturb(target, x, ctx)
        group = hash_json(
            [
                self.m.seed,
                cell.dataset.model_dump(),
                cell.codec.model_dump(),
                cell.quality,
                cell.attack.model_dump() if cell.attack else None,
            ]
        )
        if self._adv[0] != group:
            self._adv = (group, {})
        cache = self._adv[1]
        if name not in cache:
            gpus = [torch.cuda.current_device()] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=gpus):
                torch.manual_seed(int(hash_json([group, name])[:8], 16))
                cache[name] = attack.perturb(target, x, ctx).detach()
        return cache[name]


def over_draws(runs: list[dict[str, float]], metrics: list[Metric]) -> dict[str, float]:
    """One draw's scores as they are; several draws: the mean, and ``NAME@worst``."""
    if len(runs) == 1:
        return runs[0]
    higher = {m.name: m.higher_is_better for m in metrics}
    out: dict[str, float] = {}
    for metric in runs[0]:
        vals = [r[metric] for r in runs]
        out[metric] = float(np.mean(vals))
        out[f"{metric}@worst"] = min(vals) if higher.get(metric, True) else max(vals)
    return out
