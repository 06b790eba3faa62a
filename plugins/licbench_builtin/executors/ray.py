"""`ray`: run a manifest's tasks on a Ray cluster (a laptop, a Slurm allocation, KubeRay).

Each task asks Ray for the manifest's ``resources`` (CPUs, fractional GPUs); Ray gives a
GPU task only its own GPUs (``CUDA_VISIBLE_DEVICES``). A task whose worker dies is re-run
(``retries``); the driver writes every result, so a cell is stored once. Artifacts reach
nodes that share no cache through Ray's object store. Setups: docs/scaling.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from licbench.api.executor import Executor, Resources
from licbench.errors import LicbenchError
from licbench.plugin.registry import UsesRegistry
from licbench.settings import visible_gpus
from licbench_builtin.executors.params import RayParams


class ObjectBlob:
    """Bytes in Ray's object store, fetched by the worker that needs them."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def get(self) -> bytes:
        import ray

        return bytes(ray.get(self.ref))


def on_assigned_gpus(fn: Callable[..., Any], gpus: float, *args: Any) -> Any:
    """Run ``fn(*args)`` in a Ray task, first checking that the process sees exactly the GPUs
    Ray gave it (``CUDA_VISIBLE_DEVICES``), so that ``cuda`` is the task's own GPU."""
    if gpus > 0:
        import ray

        given, seen = [str(i) for i in ray.get_gpu_ids()], visible_gpus()
        if not given or seen != given:
            raise LicbenchError(
                f"Ray gave this task GPUs {given} but it sees CUDA_VISIBLE_DEVICES={seen}; "
                "start the Ray workers without setting CUDA_VISIBLE_DEVICES"
            )
    return fn(*args)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LicbenchError(
            "--executor ray needs Ray: pip install 'licbench[ray]' (or pip install ray)"
        ) from None
    return ray


class RayExecutor(Executor, UsesRegistry):
    """Submits each task as a Ray task and yields results as they finish. A local Ray's
    workers get the settings of the registry that built the executor; on a cluster, each
    node's workers read their own environment (its cache, its data folder)."""

    name = "ray"
    Params = RayParams
    params: RayParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._owned = False
        self._remote: dict[bool, Any] = {}  # by whether the task asks for a GPU
        self._slots = 1
        self._pending = 0

    def device(self, requested: str, resources: Resources) -> torch.device:
        """Where tasks run, decided by what they ask for, not by the driver's hardware."""
        if requested == "cuda" and resources.gpus == 0:
            raise LicbenchError(
                "device cuda on the ray executor needs `resources: {gpus: N}` (or --gpus N)"
            )
        if requested == "cpu":  # honoured: GPUs asked for then only reserve, never compute
            return torch.device("cpu")
        return torch.device("cuda" if requested == "cuda" or resources.gpus > 0 else "cpu")

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            env = self.registry.settings.environment()
            try:
                ray.init(  # no address: a private local Ray, never another one found here
                    address=self.params.address or "local",
                    num_cpus=self.params.num_cpus,
                    include_dashboard=False,
                    runtime_env={"env_vars": env} if self.params.address is None else None,
                    log_to_driver=True,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise LicbenchError(
                    f"cannot reach Ray at {self.params.address} ({str(exc).splitlines()[0]}); "
                    "start it with `ray start --head` or pass another --address"
                ) from exc
            self._owned = True

    def close(self) -> None:
        if self._owned:
            _ray().shutdown()
            self._owned = False

    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Any:
        """``fn(*args)`` as a Ray task. A GPU task runs in a fresh worker process
        (``max_calls=1``): a reused one would keep the ``CUDA_VISIBLE_DEVICES`` it first saw,
        and the CUDA memory of earlier tasks."""
        ray = _ray()
        gpu = resources.gpus > 0  # max_calls is set when a function is made remote only
        if gpu not in self._remote:
            self._remote[gpu] = ray.remote(max_calls=1 if gpu else 0)(on_assigned_gpus)
        cpus = ray.cluster_resources().get("CPU", 1)
        self._slots = max(1, int(cpus // resources.cpus) if resources.cpus else int(cpus))
        self._pending += 1
        return self._remote[gpu].options(
            name=getattr(fn, "__name__", "task"),  # shown as ray::NAME, not the wrapper's
            num_cpus=resources.cpus,
            num_gpus=resources.gpus,
            max_retries=self.params.retries,
            retry_exceptions=False,
        ).remote(fn, resources.gpus, *args)

    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, Any]]:
        ray = _ray()
        pending = list(handles)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                self._pending -= 1
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the task was lost past its retries
                    value = exc
                yield ref, value

    def share(self, path: Path) -> ObjectBlob:
        return ObjectBlob(_ray().put(path.read_bytes()))

    def running(self) -> int:
        return min(self._pending, self._slots)
