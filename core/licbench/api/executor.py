"""The executor contract: where a run's tasks (trainings, attack inputs, cells) execute.

The runner turns a manifest into tasks, plain functions of picklable arguments, and hands
them to an executor: ``local`` runs them in this process one after another, ``ray`` on a
Ray cluster. A task's handle may be an argument of a later task; the executor resolves it
to the task's value first (Ray passes the object, never a copy through the driver). Tasks
return their failures as values, so an exception out of :meth:`Executor.wait` means the
task itself was lost (a worker killed past its retries).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field

from licbench.plugin.params import Configurable, Params

if TYPE_CHECKING:  # the contract itself imports no torch (validate reads Resources)
    import torch


class Resources(Params):
    """What one task needs (Ray places tasks by it; each sees only its own GPUs)."""

    cpus: float = Field(default=1.0, ge=0, description="CPU cores per task")
    gpus: float = Field(default=0.0, ge=0, description="GPUs per task (fractions share one)")


class Blob(Protocol):
    """Bytes a worker can fetch (an artifact file, for workers that lack it)."""

    def get(self) -> bytes: ...


class Executor(Configurable, ABC):
    """Runs tasks; one instance per run, used between :meth:`start` and :meth:`close`."""

    name: str = ""

    def start(self) -> None:
        """Connect to (or start) whatever runs the tasks."""

    def close(self) -> None:
        """Release what :meth:`start` took."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Any:
        """Schedule ``fn(*args)``; a handle. Handles among ``args`` become their values."""

    @abstractmethod
    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(handle, value)`` as tasks finish; ``value`` is the exception of a lost task."""

    @abstractmethod
    def share(self, path: Path) -> Blob:
        """Make the file at ``path`` fetchable by every worker (as bytes)."""

    def device(self, requested: str, resources: Resources) -> torch.device:
        """The device tasks run on, for ``auto``/``cpu``/``cuda`` (default: this process's)."""
        from licbench.api.context import resolve_device

        return resolve_device(requested)

    def running(self) -> int:
        """How many submitted tasks are running now (for the progress bar)."""
        return 0
