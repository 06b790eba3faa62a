"""Throughput of the ray executor against a local run, measured in one run.

    python benchmarks/ray_throughput.py [MANIFEST]

1. A local run of the manifest with torch on one thread.
2. The same manifest on a local Ray cluster of two one-CPU worker nodes (after a warm-up
   run that starts the workers): the speed-up is (local time) / (Ray time).
3. Per-cell overhead: cells submitted one at a time on Ray, the driver's round trip
   (submit to result, inputs fetched from the object store) against the compute time the
   cell measured inside its task.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from licbench.bench.checker import load_manifest
from licbench.bench.manifest import Manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.bench.work import attack_task, cell_task
from licbench.plugin.manager import load_registry

if TYPE_CHECKING:
    from licbench.api.executor import Executor


def timed_run(
    manifest: Manifest, db: Path, executor: Executor | None = None, limit: int | None = None
) -> float:
    t0 = time.perf_counter()
    store = ResultStore(str(db))
    runner = Runner(
        manifest,
        store,
        progress=False,
        executor=executor,
        limit_images=limit,
        registry=load_registry(),
    )
    summary = runner.run()
    assert summary.failed == 0, summary.failures
    return time.perf_counter() - t0


def round_trips(
    manifest: Manifest, db: Path, executor: Executor, n: int = 4
) -> list[tuple[float, float]]:
    """(driver round trip, in-task compute) of ``n`` cells run one at a time."""
    runner = Runner(
        manifest, ResultStore(str(db)), progress=False, executor=executor, registry=load_registry()
    )
    out = []
    for p in runner.plan()[:n]:
        attack = executor.submit(attack_task, runner.job, p, {}, resources=runner.resources)
        list(executor.wait([attack]))  # computed; its images stay in the object store
        t0 = time.perf_counter()
        cell = executor.submit(cell_task, runner.job, p, {}, attack, resources=runner.resources)
        ((_, result),) = executor.wait([cell])
        out.append((time.perf_counter() - t0, float(result.row["seconds"])))
    return out


def main() -> None:
    import ray
    from ray.cluster_utils import Cluster

    path = Path(
        sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "scaling/throughput.yaml"
    )
    manifest = load_manifest(path, load_registry())
    tmp = Path(tempfile.mkdtemp())
    torch.set_num_threads(1)
    local = timed_run(manifest, tmp / "local.db")
    n = len(ResultStore(str(tmp / "local.db")).done_keys())

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):  # an object store that holds every group's inputs without spilling
        cluster.add_node(num_cpus=1, object_store_memory=2**30)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        executor = load_registry().create("executor", "ray", address=cluster.address)
        warm = manifest.model_copy(update={"name": "warm-up"})  # starts both workers
        timed_run(warm, tmp / "warm.db", executor, limit=1)
        on_ray = timed_run(manifest, tmp / "ray.db", executor)
        trips = round_trips(manifest, tmp / "trip.db", executor)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"{path}: {n} cells")
    print(f"local, 1 thread: {local:.1f} s; ray, 2 one-CPU workers: {on_ray:.1f} s")
    print(f"speed-up local / ray: {local / on_ray:.2f}x")
    wall = sum(t for t, _ in trips) / len(trips)
    inner = sum(c for _, c in trips) / len(trips)
    print(
        f"one cell at a time on ray: round trip {wall:.2f} s, compute inside the task "
        f"{inner:.2f} s, overhead {(wall - inner) / inner:.2%} of a cell"
    )


if __name__ == "__main__":
    main()
