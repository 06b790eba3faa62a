"""Run a manifest's cells, skipping cells the database already holds.

A cell is one (dataset, codec, quality, attack, defense) combination scored with every
metric of the manifest. The run plans every cell (its content key:
:mod:`licbench.bench.plan`), prepares the artifacts the cells to run need
(:mod:`licbench.bench.prepare`), then has the executor compute each gray-box attack's
inputs once and score the cells (:mod:`licbench.bench.work`); the driver writes each
result as it arrives, so a re-run of the same manifest resumes where an interrupted run
stopped.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from licbench.api.artifact import Recipe
from licbench.api.attack import Attack
from licbench.api.context import RunContext, resolve_device
from licbench.api.executor import Executor, Resources
from licbench.api.metric import Metric
from licbench.bench.cells import Cell, expand
from licbench.bench.estimate import Estimate, duration, estimate
from licbench.bench.manifest import DatasetRef, Manifest
from licbench.bench.plan import ATTACK_BATCH, Planned, Planner, as_error
from licbench.bench.prepare import prepare
from licbench.bench.store import ResultStore
from licbench.bench.work import (
    CellResult,
    Images,
    Job,
    Shipped,
    attack_task,
    cell_task,
    dataset_images,
    describe,
    gray_box_group,
)
from licbench.hashing import code_commit, hash_json, package_versions
from licbench.paths import reference_db_url
from licbench.plugin.registry import Registry

log = logging.getLogger("licbench")
__all__ = ["Cell", "Runner", "describe", "expand", "resolve_device"]


@dataclass
class RunSummary:
    run_id: int
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


class Runner:
    """Runs a manifest's cells into a :class:`ResultStore`, on an executor (default: local)."""

    def __init__(
        self,
        manifest: Manifest,
        store: ResultStore,
        *,
        device: str | None = None,
        limit_images: int | None = None,
        manifest_path: str = "",
        registry: Registry,
        progress: bool | None = None,
        executor: Executor | None = None,
        resources: Resources | None = None,
        audit_of: str | None = None,
        attack_batch: int | None = None,
        offline: bool = False,
    ) -> None:
        """``limit_images``: a run narrowed from the command line, stored as partial;
        ``audit_of``: the benchmark this run audits; ``attack_batch``: images per call of an
        attack that batches (default: by device, one on the CPU); ``offline`` (`verify`): a
        dataset that is not here stops the run with a one-line error, never a download."""
        self.m = manifest
        self.audit_of = audit_of
        self.store = store
        self.registry = registry
        self.executor = executor or self.registry.role("executor", "default").create()
        self.resources = resources or manifest.resources
        self.device = self.executor.device(device or manifest.device, self.resources)
        self.limit = limit_images
        self.manifest_path = manifest_path
        self.progress = progress
        self.offline = offline
        self.attack_batch = attack_batch or ATTACK_BATCH.get(self.device.type, 1)
        shown = progress is not False
        self.job = Job(manifest, self.device.type, limit_images, registry, self.attack_batch, shown)
        self.ctx = RunContext(  # the driver plans on the CPU: it holds no GPU memory
            torch.device("cpu"),
            manifest.seed,
            registry.settings,
            manifest.train_data,
            manifest.val_data,
        )
        self.expected = Estimate({})

    @cached_property
    def metrics(self) -> list[Metric]:
        """The manifest's metrics, built once (for image checks and the metric rows)."""
        return [self.registry.create("metric", r.name, **r.params) for r in self.m.metrics]

    def images(self, ref: DatasetRef) -> Images:
        """The dataset's (name, image) list as the cells see it (checked, limited, cropped)."""
        return dataset_images(ref, self.registry, self.limit, self.metrics)

    def planner(self, offline: bool = False) -> Planner:
        return Planner(
            self.m, self.registry, self.ctx, self.limit, self.device.type, offline,
            self.attack_batch,
        )  # fmt: skip

    def plan(self, offline: bool = False) -> list[Planned]:
        """Every cell with its key and state; nothing is trained or scored (``offline``, a
        dry run: nor downloaded)."""
        planner = self.planner(offline)
        return planner.plan_all(self.store.done_keys(), self.store.failed_cells())

    def estimate(self, planned: list[Planned]) -> Estimate:
        """Seconds for each cell to run, from the timings this database (and the shipped
        reference results) hold of comparable cells (:mod:`licbench.bench.estimate`)."""
        frames = [self.store.frame("cells")]
        ref = reference_db_url()
        if ref and ref != self.store.url:
            try:
                frames.append(ResultStore(ref, create=False).frame("cells"))
            except Exception:  # an unreadable reference only costs the estimate
                log.debug("reference results unreadable for estimates", exc_info=True)
        frames = [f for f in frames if len(f)]
        cells = pd.concat(frames, ignore_index=True) if frames else self.store.frame("cells")
        return estimate(planned, cells, self.registry)

    # --- the run -------------------------------------------------------------------------

    def run(
        self,
        on_cell: Callable[[str, str], None] | None = None,
        only: Callable[[Planned], bool] | None = None,
    ) -> RunSummary:
        """Run every cell the database lacks (``only``: those it selects)."""
        planned = [p for p in self.plan(self.offline) if only is None or only(p)]
        todo = [p for p in planned if not p.stored]
        for ref in {hash_json(p.cell.dataset.model_dump()): p.cell.dataset for p in todo}.values():
            self.images(ref)  # a bad image stops the run before anything is written
        summary = RunSummary(0, len(planned), skipped=len(planned) - len(todo))
        self.expected = self.estimate(todo)
        if todo:
            print(f"{self.m.name}: {len(todo)} cells to run, {self.expected.line()}",
                  file=sys.stderr, flush=True)  # fmt: skip
        self.executor.start()
        try:
            artifacts = self.prepare(todo)
            summary.run_id = self.store.start_run(
                self.m.name,
                self.manifest_path,
                self.m.model_dump(),
                package_versions(),
                kind="audit" if self.audit_of else "run",
                audit_of=self.audit_of,
                partial=self.limit is not None,
                code_commit=code_commit(),
            )
            self.store.record_metrics(self._metric_rows())
            status = "failed"
            try:
                self._cells(todo, artifacts, summary, on_cell)
                status = "finished"
            finally:
                self.store.finish_run(summary.run_id, status)
        finally:
            self.executor.close()
        return summary

    def prepare(self, planned: list[Planned]) -> dict[str, Shipped]:
        """The prepare stage (:func:`licbench.bench.prepare.prepare`) on this run's executor."""
        return prepare(planned, self.executor, self.job, self.resources, self.ctx.cache_dir)

    def _cells(
        self,
        todo: list[Planned],
        artifacts: dict[str, Shipped],
        summary: RunSummary,
        on_cell: Callable[[str, str], None] | None,
    ) -> None:
        """Submit every cell (a gray-box attack's inputs once per group), record results."""
        tasks: dict[Any, Planned] = {}
        groups: dict[str, Any] = {}
        shared = {p.key: self._gray_box(p) for p in todo}
        sizes = Counter(g for g in shared.values() if g is not None)  # cells per attack task
        for p in todo:
            needed = {r.key: artifacts[r.key] for r in p.recipes.values() if r.key in artifacts}
            group = shared[p.key]
            if group is not None:
                if group not in groups:
                    attack_only = {
                        k: v for k, v in needed.items() if k == p.recipes.get("attack", _NONE).key
                    }
                    groups[group] = self.executor.submit(
                        attack_task, self.job, p, attack_only, resources=self.resources
                    )
                inputs = groups[group]
            else:
                inputs = None
            size = sizes[group] if group is not None else 1
            tasks[
                self.executor.submit(
                    cell_task, self.job, p, needed, inputs, size, resources=self.resources
                )
            ] = p
        groups.clear()  # the inputs of a group are freed once its cells are done
        clock = {"start": time.perf_counter(), "expected_done": 0.0}
        bar = tqdm(
            total=summary.total,
            initial=summary.skipped,
            desc=self.m.name,
            unit="cell",
            disable=self.progress is False,
            file=sys.stderr,
        )
        try:
            for task, value in self.executor.wait(list(tasks)):
                p = tasks.pop(task)
                result = value if isinstance(value, CellResult) else _lost(p, value)
                self.store.record_cell(
                    {**self._row(p, summary.run_id), **result.row}, result.scores
                )
                outcome = "failed" if result.failed else "done"
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                if result.failed:
                    summary.failures.append(describe(p.cell))
                if on_cell:
                    on_cell(outcome, p.cell.codec.display)
                bar.update(1)
                left = self._time_left(tasks.values(), p, clock)
                bar.set_postfix_str(
                    f"running {self.executor.running()}, failed {summary.failed}{left}"
                )
        finally:
            bar.close()

    def _time_left(self, pending: Any, p: Planned, clock: dict[str, float]) -> str:
        """``, ≈ T left``: the estimates of the cells still pending, scaled by how the
        estimates of the finished ones compared with the time they took."""
        clock["expected_done"] += self.expected.seconds.get(p.key) or 0.0
        left = sum(self.expected.seconds.get(q.key) or 0.0 for q in pending)
        if not left or not clock["expected_done"]:
            return ""
        pace = (time.perf_counter() - clock["start"]) / clock["expected_done"]
        return f", ≈ {duration(left * pace)} left"

    def _gray_box(self, p: Planned) -> str | None:
        """The group whose one attack task makes ``p``'s inputs (None: no attack, a failed
        plan, or an adaptive attack, made inside the cell on the defended codec)."""
        if p.error is not None or p.cell.attack is None or self._adaptive(p):
            return None
        return gray_box_group(self.m, p.cell)

    def _adaptive(self, p: Planned) -> bool:
        assert p.cell.attack is not None
        cls = self.registry.get("attack", p.cell.attack.name).load()
        return bool(issubclass(cls, Attack) and cls.adaptive)

    def _metric_rows(self) -> list[tuple[str, bool, str]]:
        rows = [(m.name, m.higher_is_better, m.unit) for m in self.metrics]
        if self.m.draws > 1 and self.m.defenses:
            rows += [(f"{n}@worst", h, u) for n, h, u in rows]
        return rows

    def _row(self, p: Planned, run_id: int) -> dict[str, Any]:
        cell = p.cell
        return {
            "key": p.key,
            "run_id": run_id,
            "benchmark": self.m.name,
            "codec": cell.codec.name,
            **cell.labels(),
            "config": p.payload["config"],
            "versions": p.payload["versions"],
            "fingerprints": p.payload["fingerprints"],
            "kind": p.kind,
            "partial": self.limit is not None,
            "backdoor": p.backdoor,
            "variant": p.variant,
        }


_NONE = Recipe("", "")


def _lost(p: Planned, exc: BaseException) -> CellResult:
    """A cell whose task never returned (its worker died past every retry)."""
    log.error("cell %s lost: %s", describe(p.cell), exc)
    return CellResult(p.key, {"status": "failed", "error": f"task lost: {as_error(exc)}"})
