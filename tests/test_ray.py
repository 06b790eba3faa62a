"""The ray executor on a real local cluster of two one-CPU nodes that share no cache."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import manifest_runner

from licbench.bench.checker import load_manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.plugin.manager import load_registry
from licbench.settings import Settings

MANIFEST = """\
name: ray
datasets: [{name: samples, limit: 2, crop: 128}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2, 4]}]
attacks: [{name: pgd, params: {iters: ITERS}}]
defenses: [{name: gaussian-blur, params: {sigma: 1.0}}]
metrics: [bpp, psnr, input-psnr]
"""
CELLS = 8  # 2 qualities x (none, pgd) x (none, blur)


def manifest(tmp_path: Path, iters: int = 2) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("ITERS", str(iters)))
    return path


def scores_of(store: ResultStore) -> list[tuple[str, str, str, float]]:
    df = store.frame("scores")
    rows = df[["cell_key", "image", "metric", "value"]].itertuples(index=False)
    return sorted((str(k), str(i), str(m), float(v)) for k, i, m, v in rows)


def ray_executor(address: str):
    return load_registry().create("executor", "ray", address=address)


def driver(path: Path, db: Path, address: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "licbench.cli", "run", str(path), "--db", str(db)]
    cmd += ["--executor", "ray", "--address", address, "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_complete(db: Path, cells: int = CELLS, images: int = 2, metrics: int = 3) -> None:
    """Every cell stored exactly once, done, with every score."""
    store = ResultStore(str(db))
    found = store.frame("cells")
    assert len(found) == cells and found.key.is_unique and set(found.status) == {"done"}
    scores = store.frame("scores")
    assert len(scores) == cells * images * metrics


@pytest.mark.slow
def test_ray_and_local_runs_store_identical_scores(ray_nodes, tmp_path: Path) -> None:
    """Bit-identical with the same torch threads per task (a one-CPU Ray task runs one)."""
    address, _ = ray_nodes
    m = load_manifest(manifest(tmp_path), load_registry())
    local, on_ray = ResultStore(str(tmp_path / "a.db")), ResultStore(str(tmp_path / "b.db"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `licbench run --threads 1`
    try:
        Runner(m, local, device="cpu", progress=False, registry=load_registry()).run()
    finally:
        torch.set_num_threads(threads)
    summary = Runner(
        m,
        on_ray,
        device="cpu",
        progress=False,
        executor=ray_executor(address),
        registry=load_registry(),
    ).run()
    assert (summary.done, summary.failed) == (CELLS, 0)
    assert scores_of(on_ray) == scores_of(local)
    assert sorted(local.frame("cells").key) == sorted(on_ray.frame("cells").key)


def test_an_artifact_for_ten_cells_on_two_nodes_is_trained_once(
    ray_nodes, tmp_path: Path, image_dir: Path
) -> None:
    address, nodes = ray_nodes
    sigmas = ", ".join(f"{{name: gaussian-blur, params: {{sigma: {s}}}}}" for s in range(1, 11))
    path = tmp_path / "bd.yaml"
    path.write_text(
        "name: ray-backdoor\ndatasets: [{name: samples, limit: 2, crop: 128}]\n"
        "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\nclean: false\n"
        "attacks:\n  - name: backdoor\n    params:\n"
        "      triggers: [{label: t, trigger: ftrojan, goal: bpp}]\n"
        "      steps: 2\n      batch_size: 1\n      patch_size: 64\n"
        f"defenses: [{sigmas}]\ntrain_data: {{name: folder, params: {{path: {image_dir}}}}}\n"
        "metrics: [bpp, psnr]\n"
    )
    store = ResultStore(str(tmp_path / "r.db"))
    runner = manifest_runner(path, store, progress=False, executor=ray_executor(address))
    summary = runner.run()
    assert (summary.done, summary.failed) == (10, 0)
    caches = [*nodes, Settings.from_env().cache]
    records = [r for c in caches for r in (c / "backdoors").glob("*.safetensors.json")]
    artifacts = [a for c in caches for a in (c / "backdoors").glob("*.safetensors")]
    assert len(records) == 1  # one training, on one node
    assert len(artifacts) == 3  # there, shipped to the other node, and kept by the driver


def test_a_second_phase_trains_after_its_init_and_starts_from_the_same_file(
    ray_nodes, tmp_path: Path, image_dir: Path
) -> None:
    """A backdoor and its second phase (``init``) in one manifest, on two nodes that share no
    cache: the init trains once, first, and the second phase starts from its file shipped
    to whichever node trains it (no node trains the init again)."""
    address, nodes = ray_nodes
    phase = "{triggers: [{label: t, trigger: ftrojan, goal: bpp}], steps: 2, batch_size: 1, "
    phase += "patch_size: 64"
    path = tmp_path / "init.yaml"
    path.write_text(
        "name: ray-init\ndatasets: [{name: samples, limit: 1, crop: 128}]\n"
        "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\nclean: false\n"
        f"attacks:\n  - {{name: backdoor, label: first, params: {phase}}}}}\n"
        f"  - {{name: backdoor, label: second, params: {phase}, seed: 1, init: {phase}}}}}}}\n"
        f"train_data: {{name: folder, params: {{path: {image_dir}}}}}\nmetrics: [bpp]\n"
    )
    store = ResultStore(str(tmp_path / "r.db"))
    runner = manifest_runner(path, store, progress=False, executor=ray_executor(address))
    summary = runner.run()
    assert (summary.done, summary.failed) == (2, 0)
    caches = [*nodes, Settings.from_env().cache]
    records = [r for c in caches for r in (c / "backdoors").glob("*.json")]
    assert len(records) == 2  # the init and the second phase, each trained once


def _kill_a_running_cell(deadline: float) -> int:
    """SIGKILL the first Ray worker seen running a cell task; its pid."""
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        for line in ps.splitlines():
            if "ray::cell_task" in line:
                pid = int(line.split()[0])
                subprocess.run(["kill", "-9", str(pid)])
                return pid
        time.sleep(0.05)
    raise AssertionError("no cell task was seen running")


@pytest.mark.slow
def test_a_worker_killed_mid_cell_is_retried_and_stored_once(ray_nodes, tmp_path: Path) -> None:
    address, _ = ray_nodes
    db = tmp_path / "r.db"
    proc = driver(manifest(tmp_path, iters=20), db, address)
    assert _kill_a_running_cell(time.monotonic() + 120)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"{CELLS} cells: {CELLS} run" in out
    assert_complete(db)


@pytest.mark.slow
def test_a_killed_driver_resumes_without_duplicates(ray_nodes, tmp_path: Path) -> None:
    address, _ = ray_nodes
    db, path = tmp_path / "r.db", manifest(tmp_path, iters=10)
    proc = driver(path, db, address)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.is_file() and len(ResultStore(str(db)).done_keys()) >= 2:
            break
    proc.kill()
    proc.wait()
    stored = len(ResultStore(str(db)).done_keys())
    assert 2 <= stored < CELLS
    proc = driver(path, db, address)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"{CELLS - stored} run, {stored} already stored" in out
    assert_complete(db)


@pytest.mark.slow
def test_gpu_tasks_run_in_fresh_processes_that_see_only_their_gpu(ray_nodes) -> None:
    """Each node declares one GPU (Ray hands out its id, no hardware needed): every GPU task
    sees exactly the GPU Ray gave it and runs in a process of its own (``max_calls=1``), so
    no reused process keeps another task's CUDA_VISIBLE_DEVICES or memory."""
    from licbench.api.executor import Resources
    from licbench.errors import LicbenchError
    from licbench_builtin.executors.ray import on_assigned_gpus

    address, _ = ray_nodes
    executor = ray_executor(address)
    executor.start()

    def probe() -> tuple[int, str | None, list[str]]:
        import os

        import ray

        ids = [str(i) for i in ray.get_gpu_ids()]
        return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES"), ids

    gpu = Resources(cpus=1, gpus=1)
    found = [v for _, v in executor.wait([executor.submit(probe, resources=gpu) for _ in range(4)])]
    assert len({pid for pid, _, _ in found}) == 4  # a fresh process each
    assert all(len(ids) == 1 and seen == ids[0] for _, seen, ids in found)
    assert {ids[0] for _, _, ids in found} == {"0"}  # each node's one GPU is its GPU 0
    with pytest.raises(LicbenchError, match=r"Ray gave this task GPUs \[\] but it sees"):
        on_assigned_gpus(probe, 1.0)  # the driver was given no GPU
