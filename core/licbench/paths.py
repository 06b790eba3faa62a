"""Files licbench ships beside its source (reference results, trained artifacts), downstream
weights under the data folder, and atomic writes. Where the user's folders are is a matter
of :class:`licbench.settings.Settings`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from licbench.errors import LicbenchError
from licbench.settings import DEFAULT_DB


def shipped_artifact(family: str, name: str) -> Path | None:
    """A trained artifact shipped with a source checkout (``benchmarks/artifacts/FAMILY/NAME``,
    beside the reference results), if there is one."""
    here = Path(__file__).resolve().parents[2]
    path = here / "benchmarks" / "artifacts" / family / name
    return path if (here / "pyproject.toml").is_file() and path.is_file() else None


def reference_db_url() -> str | None:
    """The shipped reference results (``results.db`` beside pyproject.toml in a source
    checkout), if there is one."""
    here = Path(__file__).resolve().parents[2]
    path = here / DEFAULT_DB
    return f"sqlite:///{path}" if (here / "pyproject.toml").is_file() and path.is_file() else None


def model_weights(filename: str, what: str, root: Path | None, source: str = "") -> Path:
    """A downstream model's weights file: ``models/<filename>`` under the data folder
    ``root`` (LICBENCH_DATA); a one-line error naming the fix where it is unset or the file
    is missing."""
    path = root / "models" / filename if root else None
    if path is None or not path.is_file():
        where = f"{path} not found" if path else f"{filename}: LICBENCH_DATA unset"
        origin = f", from {source}" if source else ""
        raise LicbenchError(
            f"{what}: weights {where}; set LICBENCH_DATA to the shared data folder (holding "
            f"models/{filename}{origin}) or pass weights=PATH"
        )
    return path


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temporary file of this process beside ``path`` (its folder created) to write; it
    replaces ``path`` when the block ends, and is removed if the block fails, so readers
    and a killed writer never leave half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic`)."""
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return path
