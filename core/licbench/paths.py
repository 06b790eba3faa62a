"""Where licbench finds local datasets, caches downloads and stores results: the one module
that reads the environment (LICBENCH_DATA, LICBENCH_CACHE, LICBENCH_RESULTS,
LICBENCH_MAX_PIXELS, XDG_DATA_HOME, CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from licbench.errors import LicbenchError

DEFAULT_DB = "results.db"


def data_root() -> Path | None:
    """The folder named by LICBENCH_DATA (local copies of datasets), if set."""
    value = os.environ.get("LICBENCH_DATA")
    return Path(value).expanduser() if value else None


def max_pixels_text() -> str:
    """LICBENCH_MAX_PIXELS as given (empty: unset); :func:`licbench.bitstream.max_pixels`
    parses and bounds it."""
    return os.environ.get("LICBENCH_MAX_PIXELS", "").strip()


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (CUDA_VISIBLE_DEVICES; empty where unset)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return value.split(",") if value else []


def deterministic_cublas() -> None:
    """cuBLAS's deterministic workspace (CUBLAS_WORKSPACE_CONFIG), unless one is set."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def licbench_environment() -> dict[str, str]:
    """Every LICBENCH_* variable, for worker processes on other nodes."""
    return {k: v for k, v in os.environ.items() if k.startswith("LICBENCH_")}


def cache_dir() -> Path:
    """Downloads and trained artifacts: LICBENCH_CACHE, else ~/.cache/licbench (the one
    default; created by the first write into it, never by asking)."""
    value = os.environ.get("LICBENCH_CACHE")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "licbench"


def shipped_artifact(family: str, name: str) -> Path | None:
    """A trained artifact shipped with a source checkout (``benchmarks/artifacts/FAMILY/NAME``,
    beside the reference results), if there is one."""
    here = Path(__file__).resolve().parents[2]
    path = here / "benchmarks" / "artifacts" / family / name
    return path if (here / "pyproject.toml").is_file() and path.is_file() else None


def default_db_url() -> str:
    """The user's own results: LICBENCH_RESULTS, else ``~/.local/share/licbench/results.db``
    (under XDG_DATA_HOME where set). Never the shipped reference database: a run writes
    there only when it is named with ``--db``."""
    value = os.environ.get("LICBENCH_RESULTS")
    if value:  # a path or a URL: the store normalises either
        return value
    data = os.environ.get("XDG_DATA_HOME")
    root = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return f"sqlite:///{root / 'licbench' / DEFAULT_DB}"


def reference_db_url() -> str | None:
    """The shipped reference results (``results.db`` beside pyproject.toml in a source
    checkout), if there is one."""
    here = Path(__file__).resolve().parents[2]
    path = here / DEFAULT_DB
    return f"sqlite:///{path}" if (here / "pyproject.toml").is_file() and path.is_file() else None


def model_weights(filename: str, what: str, source: str = "") -> Path:
    """A downstream model's weights file: ``$LICBENCH_DATA/models/<filename>``; a one-line
    error naming the fix where LICBENCH_DATA is unset or the file is missing."""
    root = data_root()
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
