"""Expand a manifest into cells and run them, skipping cells the database already holds.

A cell is one (dataset, codec, quality, attack, defense) combination scored with every
metric of the manifest. Its content key hashes the resolved config, the plugin and library
versions, the dataset and weight fingerprints, the seed and the device, so re-running the
same manifest resumes where an interrupted run stopped, and a change to any of those makes
a new cell.
"""

from __future__ import annotations

import logging
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from licbench.api.codec import Attack, Codec, LearnedCodec, Metric, RunContext
from licbench.bench.evaluate import score_image
from licbench.bench.manifest import CodecRef, DatasetRef, Manifest, PluginRef
from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.paths import cache_dir
from licbench.plugin.manager import get_registry
from licbench.plugin.registry import Registry

log = logging.getLogger("licbench")


@dataclass
class Cell:
    dataset: DatasetRef
    codec: CodecRef
    quality: float
    attack: PluginRef | None
    defense: PluginRef | None

    def config(self, manifest: Manifest) -> dict[str, Any]:
        dump = lambda ref: ref.model_dump() if ref else None  # noqa: E731
        codec = self.codec.model_dump(exclude={"qualities"})
        out = {
            "benchmark": manifest.name,
            "dataset": dump(self.dataset),
            "codec": codec,
            "quality": self.quality,
            "attack": dump(self.attack),
            "defense": dump(self.defense),
            "metrics": [m.name for m in manifest.metrics],
            "metric_params": [m.params for m in manifest.metrics],
        }
        if self.defense is not None and manifest.draws > 1:
            out["draws"] = manifest.draws
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


def load_item(ref: DatasetRef, name: str, x: torch.Tensor) -> torch.Tensor:
    """The image as the manifest asks for it: the central ``crop``×``crop`` window, if set."""
    if ref.crop is None:
        return x
    h, w = x.shape[-2:]
    if min(h, w) < ref.crop:
        raise LicbenchError(
            f"dataset '{ref.name}' image {name} is {w}x{h}, smaller than crop: {ref.crop}; "
            f"use crop <= {min(h, w)}"
        )
    top, left = (h - ref.crop) // 2, (w - ref.crop) // 2
    return x[..., top : top + ref.crop, left : left + ref.crop]


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
        self._images: dict[str, tuple[list[tuple[str, torch.Tensor]], str]] = {}
        # gray-box adversarial inputs of the current (attack, codec, quality, dataset), shared
        # by the cells that cross them with different defenses
        self._adv: tuple[str, dict[str, torch.Tensor]] = ("", {})
        self.metrics: list[Metric] = [
            self.registry.create("metric", r.name, **r.params) for r in manifest.metrics
        ]

    # --- building blocks ---------------------------------------------------------------

    def images(self, ref: DatasetRef) -> tuple[list[tuple[str, torch.Tensor]], str]:
        """The dataset's (name, image) list, limited, and its fingerprint; loaded once."""
        key = hash_json(ref.model_dump())
        if key not in self._images:
            ds = self.registry.create("dataset", ref.name, **ref.params)
            items = ds.items()
            n = min(x for x in (ref.limit, self.limit, len(items)) if x)
            images = [(it.name, load_item(ref, it.name, it.loader())) for it in items[:n]]
            self._check_sizes(ref, images)
            self._images[key] = (images, ds.fingerprint() + f":first{n}")
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

    def _versions(self, cell: Cell) -> dict[str, str]:
        refs = [
            ("dataset", cell.dataset),
            ("codec", cell.codec),
            ("attack", cell.attack),
            ("defense", cell.defense),
        ] + [("metric", m) for m in self.m.metrics]
        out = package_versions()
        for kind, ref in refs:
            if ref is not None:
                e = self.registry.get(kind, ref.name)
                out[f"{kind}:{ref.name}"] = f"{e.dist}=={e.version}"
        return out

    def key(self, cell: Cell, fingerprints: dict[str, str]) -> tuple[str, dict[str, Any]]:
        payload = {
            "config": cell.config(self.m),
            "versions": self._versions(cell),
            "fingerprints": fingerprints,
            "seed": self.m.seed,
            "device": self.device.type,
            "limit_images": self.limit,
        }
        return hash_json(payload), payload

    def make_codec(self, ref: CodecRef, quality: float) -> Codec:
        q: float = int(quality) if float(quality).is_integer() else quality
        codec = self.registry.create("codec", ref.name, quality=q, **ref.params)
        return codec.to(self.device)

    # --- the run -------------------------------------------------------------------------

    def run(self, on_cell: Callable[[str, str], None] | None = None) -> RunSummary:
        cells = expand(self.m)
        run_id = self.store.start_run(
            self.m.name, self.manifest_path, self.m.model_dump(), package_versions()
        )
        self.store.record_metrics(self._metric_rows())
        summary = RunSummary(run_id, len(cells))
        done = self.store.done_keys()
        bar = tqdm(
            total=len(cells),
            desc=self.m.name,
            unit="cell",
            position=0,
            disable=self.progress is False,
            file=sys.stderr,
        )
        codec_cache: dict[str, Codec | LicbenchError] = {}
        status = "failed"
        try:
            for cell in cells:
                bar.set_postfix_str(f"{cell.codec.display} q={cell.quality:g}")
                ck = hash_json([cell.codec.model_dump(), cell.quality])
                if ck not in codec_cache:
                    codec_cache.clear()  # hold one codec at a time
                    try:
                        codec_cache[ck] = self.make_codec(cell.codec, cell.quality)
                    except LicbenchError as exc:
                        codec_cache[ck] = exc
                outcome = self._run_cell(cell, codec_cache[ck], done, run_id)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                if outcome == "failed":
                    summary.failures.append(f"{cell.codec.display} q={cell.quality:g}")
                if on_cell:
                    on_cell(outcome, cell.codec.display)
                bar.update(1)
            status = "finished"
        finally:
            bar.close()
            self.store.finish_run(run_id, status)
        return summary

    def _run_cell(
        self, cell: Cell, codec: Codec | LicbenchError, done: set[str], run_id: int
    ) -> str:
        images, ds_fp = self.images(cell.dataset)
        weights = codec.fingerprint() if isinstance(codec, Codec) else "unavailable"
        key, payload = self.key(cell, {"dataset": ds_fp, "weights": weights})
        if key in done:
            return "skipped"
        row: dict[str, Any] = {
            "key": key,
            "run_id": run_id,
            "benchmark": self.m.name,
            "dataset": cell.dataset.label or cell.dataset.name,
            "codec": cell.codec.name,
            "label": cell.codec.display,
            "quality": cell.quality,
            "attack": cell.attack.display if cell.attack else "none",
            "defense": cell.defense.display if cell.defense else "none",
            "config": payload["config"],
            "versions": payload["versions"],
            "fingerprints": payload["fingerprints"],
        }
        t0 = time.perf_counter()
        try:
            if isinstance(codec, LicbenchError):
                raise codec
            row.update(family=codec.family, learned=isinstance(codec, LearnedCodec))
            row["config"]["codec_spec"] = codec.spec()
            seed_everything(int(hash_json([self.m.seed, payload["config"]])[:8], 16))
            scores, timing = self._score(cell, codec, images)
        except Exception as exc:  # a failing cell is recorded and the run goes on
            row.update(
                status="failed",
                seconds=time.perf_counter() - t0,
                error="".join(traceback.format_exception(exc)),
            )
            log.error("cell %s q=%s failed: %s", cell.codec.display, cell.quality, exc)
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

    def _score(
        self, cell: Cell, codec: Codec, images: list[tuple[str, torch.Tensor]]
    ) -> tuple[list[tuple[str, str, float]], dict[str, float]]:
        ctx = RunContext(self.device, self.m.seed, cache_dir(), self.m.train_data)
        victim = codec
        attack = defense = None
        if cell.attack:
            attack = self.registry.create("attack", cell.attack.name, **cell.attack.params)
            victim = attack.prepare(codec, ctx)
        defended = victim
        if cell.defense:
            defense = self.registry.create("defense", cell.defense.name, **cell.defense.params)
            defended = defense.wrap(victim, ctx)
        target = defended if attack is not None and attack.adaptive else victim
        scores: list[tuple[str, str, float]] = []
        timing = {"codec": 0.0, "metric": 0.0}
        bar = tqdm(
            images,
            desc=f"  {cell.codec.display} q={cell.quality:g}",
            unit="img",
            leave=False,
            position=1,
            disable=self.progress is False,
            file=sys.stderr,
        )
        draws = self.m.draws if defense is not None and defense.randomized else 1
        for name, x in bar:
            x_in = self._perturb(cell, attack, target, name, x, ctx) if attack else None
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
        self, cell: Cell, attack: Attack, target: Codec, name: str, x: torch.Tensor, ctx: RunContext
    ) -> torch.Tensor:
        """The attacked image. A gray-box attack does not see the defense, so its input is
        computed once per image, seeded by the attack, codec and image alone, and reused by
        every defense it meets; an adaptive attack is run against each defended codec."""
        x = x.to(self.device)
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
