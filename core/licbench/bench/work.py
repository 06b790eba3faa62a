"""The tasks of a run: train an artifact, compute a gray-box attack's inputs, score a cell.

Each is a plain function of picklable arguments, so an executor can run it in this process
or on any worker of a cluster. A worker process keeps one :class:`Worker` per job: the
registry, the current codec, the loaded images. Failures come back as values (a
:class:`~licbench.errors.LicbenchError`, or a failed :class:`CellResult`) and the run goes
on. Artifacts travel as :class:`Shipped`: a worker that lacks the file in its own cache
fetches the bytes once and writes them there.
"""

from __future__ import annotations

import logging
import os
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from licbench.api.artifact import Recipe, Trained
from licbench.api.attack import Attack, deliver
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.context import RunContext, resolve_device
from licbench.api.defense import Defense
from licbench.api.executor import Blob
from licbench.api.metric import Metric
from licbench.bench.cells import ROLES, Cell
from licbench.bench.evaluate import check_size, score_image
from licbench.bench.manifest import DatasetRef, Manifest
from licbench.bench.plan import Codecs, Planned, as_error
from licbench.data import DataRef, load
from licbench.errors import LicbenchError
from licbench.hashing import derive_seed, hash_json
from licbench.paths import write_atomic
from licbench.plugin.manager import load_registry
from licbench.plugin.registry import Registry

log = logging.getLogger("licbench")
Images = list[tuple[str, torch.Tensor]]
Inputs = dict[str, torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def describe(cell: Cell) -> str:
    """``dataset codec q=Q attack/defense`` for logs and summaries."""
    d = cell.labels()
    return f"{d['dataset']} {d['label']} q={d['quality']:g} {d['attack']}/{d['defense']}"


@dataclass(frozen=True)
class Job:
    """What every task of one run shares: the manifest, the device type, the image limit,
    how many images an attack that batches takes per call, whether trainings show progress."""

    manifest: Manifest
    device: str
    limit: int | None = None
    registry: Registry | None = field(default=None, compare=False)  # in-process runs only
    attack_batch: int = 1
    progress: bool = True  # trainings show progress bars

    @property
    def key(self) -> str:
        parts = [self.manifest.model_dump(), self.device, self.limit, self.attack_batch]
        return hash_json([*parts, self.progress, id(self.registry)])

    def __getstate__(self) -> dict[str, Any]:
        """A job sent to another process leaves its registry behind: workers build theirs
        from the installed entry points."""
        return {k: v for k, v in self.__dict__.items() if k != "registry"}


@dataclass(frozen=True)
class Shipped:
    """A trained artifact as tasks receive it: its recipe and its bytes (or its error)."""

    recipe: Recipe
    blob: Blob | None = None
    error: LicbenchError | None = None


@dataclass(frozen=True)
class GrayBox:
    """A gray-box attack's inputs for every image of its group, and the seconds they took:
    each cell of the group adds its share to its own seconds, so stored timings (and the
    estimates made from them) count the attack once in all."""

    inputs: Inputs
    seconds: float


@dataclass
class CellResult:
    """What a cell task returns: the row's new fields and the per-image scores."""

    key: str
    row: dict[str, Any]
    scores: list[tuple[str, str, float]] = field(default_factory=list)
    worker: str = ""

    @property
    def failed(self) -> bool:
        return self.row.get("status") != "done"


class Worker:
    """One process's state for one job: registry, the current codec, images."""

    _current: ClassVar[Worker | None] = None

    def __init__(self, job: Job) -> None:
        self.job, self.m = job, job.manifest
        self.registry = job.registry or load_registry()  # a worker process: its environment
        self.device = resolve_device(job.device)
        m = job.manifest
        settings = self.registry.settings
        self.ctx = RunContext(
            self.device, m.seed, settings, m.train_data, m.val_data, progress=job.progress
        )
        self.codecs = Codecs(self.registry, self.device)
        self.metrics: list[Metric] = [
            self.registry.create("metric", r.name, **r.params) for r in m.metrics
        ]
        self._images: dict[str, Images] = {}

    @classmethod
    def of(cls, job: Job) -> Worker:
        if cls._current is None or cls._current.job.key != job.key:
            cls._current = cls(job)
        return cls._current

    def images(self, ref: DatasetRef) -> Images:
        """The dataset's (name, image) list, limited, cropped and checked; loaded once, and
        kept on this worker's device (a GPU worker copies each image there once, not once
        per cell)."""
        key = hash_json(ref.model_dump())
        if key not in self._images:
            found = dataset_images(ref, self.registry, self.job.limit, self.metrics)
            self._images[key] = [(name, x.to(self.device)) for name, x in found]
        return self._images[key]

    def train(self, p: Planned, role: str) -> Path | LicbenchError:
        """Train the ``role`` artifact of cell ``p`` into this worker's cache (resuming a
        killed training); its path or error."""
        cell, ref = p.cell, p.cell.ref(role)
        assert ref is not None
        log.info("prepare: %s %s for %s q=%g", role, ref.display, cell.codec.display, cell.quality)
        try:
            codec = self.codecs.get(cell.codec, cell.quality)
            plugin = self.registry.create(role, ref.name, **ref.params)
            with torch.random.fork_rng():
                return plugin.train(codec, self.ctx, p.recipes[role])  # type: ignore[no-any-return]
        except Exception as exc:  # a failed training fails the cells that need it
            log.error("prepare: %s %s failed: %s", role, ref.display, exc)
            return as_error(exc)

    def artifact(self, shipped: Shipped) -> Path:
        """The artifact's file in this worker's cache, written from its bytes if missing."""
        if shipped.error is not None:
            raise shipped.error
        recipe = shipped.recipe
        path = recipe.location(self.ctx.cache_dir)
        if not path.is_file() and recipe.path is not None:  # the user's file, not on this node
            path = Recipe(recipe.family, recipe.key, recipe.suffix).location(self.ctx.cache_dir)
        if not path.is_file():
            assert shipped.blob is not None
            write_atomic(path, shipped.blob.get())
        return path

    def build(
        self, p: Planned, artifacts: dict[str, Shipped], roles: tuple[str, ...] = ROLES
    ) -> tuple[Attack | None, Defense | None, Codec, Codec]:
        """The attack, the defense, the victim codec and the defended codec of a cell
        (``roles``: whose artifacts change the victim)."""
        codec = self.codecs.get(p.cell.codec, p.cell.quality)
        built: dict[str, Any] = {}
        for role in ("attack", "defense"):
            ref = p.cell.ref(role)
            built[role] = self.registry.create(role, ref.name, **ref.params) if ref else None
            if role in p.recipes and role in roles:
                assert isinstance(built[role], Trained)
                codec = built[role].load(codec, self.artifact(artifacts[p.recipes[role].key]))
        attack, defense = built["attack"], built["defense"]
        defended = defense.wrap(codec, self.ctx) if defense else codec
        return attack, defense, codec, defended


def dataset_images(
    ref: DatasetRef, registry: Registry, limit: int | None, metrics: list[Metric]
) -> Images:
    """The dataset's (name, image) list as the cells see it: limited, cropped, and each
    image at least as large as every metric needs."""
    images = load(DataRef.of(ref), registry, limit)
    for name, x in images:
        check_size(f"dataset '{ref.name}' image {name}", x, metrics)
    return images


def gray_box_group(m: Manifest, cell: Cell) -> str | None:
    """The key that cells sharing one gray-box attack's inputs have in common (None: no
    attack). Every defense the attack meets receives the same inputs."""
    if cell.attack is None:
        return None
    dump = lambda ref: ref.model_dump()  # noqa: E731
    return hash_json(
        [m.seed, dump(cell.dataset), dump(cell.codec), cell.quality, dump(cell.attack)]
    )


def attacked(w: Worker, p: Planned, attack: Attack, target: Codec, images: Images) -> Inputs:
    """Every image's attacked input, delivered as an 8-bit image within the attack's budget
    (:func:`licbench.api.attack.deliver`). Consecutive images of one size go to an attack
    that batches ``w.job.attack_batch`` at a time; each image is seeded by itself alone: by its
    name and its gray-box group (inputs shared by every defense the attack meets) or, for
    an adaptive attack, its cell."""
    if attack.adaptive:
        base: Any = derive_seed(w.m.seed, p.payload["config"])
    else:
        base = gray_box_group(w.m, p.cell)
    gpus = [torch.cuda.current_device()] if w.device.type == "cuda" else []
    out: Inputs = {}
    for group in batches(images, w.job.attack_batch if attack.batched else 1):
        seeds = [derive_seed(base, name) for name, _ in group]
        ctxs = [w.ctx.for_image(name, s) for (name, _), s in zip(group, seeds, strict=True)]
        x = torch.cat([x for _, x in group]).to(w.device)
        with torch.random.fork_rng(devices=gpus):  # for draws from torch's global stream
            torch.manual_seed(seeds[0])
            x_adv = attack.perturb_batch(target, x, ctxs)
        for i, (name, _) in enumerate(group):
            out[name] = deliver(x_adv[i : i + 1], x[i : i + 1], attack.budget())
    return out


def batches(images: Images, size: int) -> list[Images]:
    """Consecutive images of one size, at most ``size`` at a time, in order."""
    out: Images = []
    groups: list[Images] = []
    for name, x in images:
        if out and (len(out) == size or out[0][1].shape != x.shape):
            groups.append(out)
            out = []
        out.append((name, x))
    return groups + [out] if out else groups


# --- the tasks --------------------------------------------------------------------------


def train_task(
    job: Job, p: Planned, role: str, needs: dict[str, Shipped] | None = None
) -> bytes | LicbenchError:
    """Train the ``role`` artifact of cell ``p`` into this worker's cache, the artifacts it
    starts from (``needs``) put there first; its bytes."""
    w = Worker.of(job)
    try:
        for shipped in (needs or {}).values():
            w.artifact(shipped)
    except Exception as exc:  # the artifact it starts from failed: so does this one
        return as_error(exc)
    found = w.train(p, role)
    return found if isinstance(found, LicbenchError) else found.read_bytes()


def attack_task(job: Job, p: Planned, artifacts: dict[str, Shipped]) -> GrayBox | LicbenchError:
    """The gray-box attack's input for every image of ``p``'s dataset (on the CPU)."""
    t0 = time.perf_counter()
    try:
        w = Worker.of(job)
        seed_everything(derive_seed(gray_box_group(w.m, p.cell), "build"))
        attack, _, victim, _ = w.build(p, artifacts, roles=("attack",))  # gray box
        assert attack is not None
        found = attacked(w, p, attack, victim, w.images(p.cell.dataset))
        return GrayBox({name: x.cpu() for name, x in found.items()}, time.perf_counter() - t0)
    except Exception as exc:  # every cell of the group fails with it
        return as_error(exc)


def cell_task(
    job: Job,
    p: Planned,
    artifacts: dict[str, Shipped],
    inputs: GrayBox | LicbenchError | None,
    group: int = 1,
) -> CellResult:
    """Score one cell (``inputs``: its gray-box attack's, shared by ``group`` cells); a
    failure is a failed result, never an exception."""
    w = Worker.of(job)
    where = f"{os.uname().nodename}:{os.getpid()}"
    t0 = time.perf_counter()
    try:
        if p.error is not None:
            raise p.error
        if isinstance(inputs, LicbenchError):
            raise inputs
        images = w.images(p.cell.dataset)
        codec = w.codecs.get(p.cell.codec, p.cell.quality)
        row: dict[str, Any] = {"family": codec.family, "learned": isinstance(codec, LearnedCodec)}
        row["config"] = {**p.payload["config"], "codec_spec": codec.spec()}
        row["config"]["device"] = p.payload["device"]  # verify re-runs it there,
        row["config"]["threads"] = torch.get_num_threads()  # with as many threads
        if p.cell.attack is not None:  # images per attack call (verify re-runs with it)
            row["config"]["attack_batch"] = w.job.attack_batch
        seed_everything(derive_seed(w.m.seed, p.payload["config"]))
        given = inputs.inputs if isinstance(inputs, GrayBox) else None
        scores, timing, warnings = score_cell(w, p, w.build(p, artifacts), images, given)
        if warnings:  # stored with the cell, printed by the run
            row["config"]["warnings"] = warnings
            for text in warnings:
                log.warning("cell %s: %s", describe(p.cell), text)
    except Exception as exc:
        log.error("cell %s failed: %s", describe(p.cell), exc)
        failed = {"status": "failed", "seconds": time.perf_counter() - t0}
        err = as_error(exc)
        if isinstance(exc, torch.cuda.OutOfMemoryError):  # free it: the next cell may fit
            torch.cuda.empty_cache()
            err = LicbenchError(f"out of memory on {w.device}: {err}; give each task more GPU "
                                "memory (fewer tasks per GPU) or use smaller images")  # fmt: skip
            err.detail = as_error(exc).detail
        failed["error"] = str(err)  # one line; the plugin's own traceback beside it
        failed["traceback"] = err.detail or "".join(traceback.format_exception(exc))
        return CellResult(p.key, failed, worker=where)
    share = inputs.seconds / group if isinstance(inputs, GrayBox) else 0.0
    row.update(
        status="done",
        n_images=len(images),
        seconds=time.perf_counter() - t0 + share,  # with its share of the gray-box attack
        codec_seconds=timing["codec"],
        metric_seconds=timing["metric"],
    )
    return CellResult(p.key, row, scores, worker=where)


def score_cell(
    w: Worker,
    p: Planned,
    built: tuple[Attack | None, Defense | None, Codec, Codec],
    images: Images,
    inputs: Inputs | None,
) -> tuple[list[tuple[str, str, float]], dict[str, float], list[str]]:
    """Every image of a cell through its (defended) codec, scored by every metric; and
    warnings about the cell (an adversarial attack that left images unchanged)."""
    attack, defense, victim, defended = built
    target = defended if attack is not None and attack.adaptive else victim
    scores: list[tuple[str, str, float]] = []
    timing = {"codec": 0.0, "metric": 0.0}
    draws = w.m.draws if defense is not None and defense.randomized else 1
    if attack is not None and inputs is None:  # an adaptive attack: made here, on the target
        inputs = attacked(w, p, attack, target, images)
    unchanged = 0
    for name, x in images:
        x_in = None
        if attack is not None:
            assert inputs is not None
            x_in = inputs[name].to(w.device)
            unchanged += attack.kind == "adversarial" and torch.equal(x_in, x.to(w.device))
        runs = []
        for d in range(draws):
            if draws > 1:
                defense.redraw(d)  # type: ignore[union-attr]
            values, facts = score_image(name, defended, x, w.metrics, x_in=x_in)
            timing["codec"] += facts["encode_s"] + facts["decode_s"] + facts["estimate_s"]
            timing["metric"] += facts["metric_s"]
            runs.append(values)
        scores += [(name, metric, v) for metric, v in over_draws(runs, w.metrics).items()]
    return scores, timing, unchanged_warning(unchanged, len(images))


def unchanged_warning(unchanged: int, n: int) -> list[str]:
    """The warning of an attack that changed ``unchanged`` of ``n`` images not at all."""
    if not unchanged:
        return []
    return [
        f"the attack left {unchanged} of {n} images unchanged (its output equals its input: "
        "a zero gradient? attacks must use the differentiable forward, see docs/plugins.md)"
    ]


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
