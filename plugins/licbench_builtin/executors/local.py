"""`local`: run every task in this process, in the order the runner asks for results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licbench.api.executor import Executor, Resources


@dataclass(frozen=True)
class FileBlob:
    path: Path

    def get(self) -> bytes:
        return self.path.read_bytes()


class Thunk:
    """A task run on first demand; its arguments are dropped once it ran, so a shared
    input (a gray-box attack's images) is freed with the last task that needs it."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn: Callable[..., Any] | None = fn
        self.args: tuple[Any, ...] = args
        self.value: Any = None

    def result(self) -> Any:
        if self.fn is not None:
            args = [a.result() if isinstance(a, Thunk) else a for a in self.args]
            try:
                self.value = self.fn(*args)
            except Exception as exc:  # tasks return their failures; this is a bug's
                self.value = exc
            self.fn, self.args = None, ()
        return self.value


class LocalExecutor(Executor):
    """Runs each task when its result is asked for, in this process."""

    name = "local"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._busy = 0

    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Thunk:
        return Thunk(fn, args)

    def wait(self, handles: list[Any]) -> Iterator[tuple[Any, Any]]:
        for handle in handles:
            self._busy = 1
            value = handle.result()
            self._busy = 0
            yield handle, value

    def share(self, path: Path) -> FileBlob:
        return FileBlob(path)

    def running(self) -> int:
        return self._busy
