"""Where licbench finds local datasets, caches downloads and stores results."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "results.db"


def data_root() -> Path | None:
    """The folder named by LICBENCH_DATA (local copies of datasets), if set."""
    value = os.environ.get("LICBENCH_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Downloads and trained artifacts: LICBENCH_CACHE, else ~/.cache/licbench."""
    value = os.environ.get("LICBENCH_CACHE")
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "licbench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    """SQLite ``results.db`` at the repository root (the working directory otherwise)."""
    here = Path(__file__).resolve().parents[2]
    root = here if (here / "pyproject.toml").is_file() else Path.cwd()
    return f"sqlite:///{root / DEFAULT_DB}"
