"""What licbench takes from its environment, read once where a command or an API call
starts (the edge) and passed in from there, in the registry and the run context: the one
module that reads environment variables (LICBENCH_DATA, LICBENCH_CACHE, LICBENCH_RESULTS,
LICBENCH_MAX_PIXELS, XDG_DATA_HOME; CUDA_VISIBLE_DEVICES, a fact of the worker process)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from licbench.errors import LicbenchError

DEFAULT_DB = "results.db"
DEFAULT_MAX_PIXELS = 50_000_000  # a 8000x6000 photo fits; LICBENCH_MAX_PIXELS changes it
LIMIT_MAX_PIXELS = 1_000_000_000  # what LICBENCH_MAX_PIXELS may raise it to


def _home(*parts: str) -> Path:
    return Path.home().joinpath(*parts)


@dataclass(frozen=True)
class Settings:
    """Where licbench finds local datasets and downstream weights (``data``), caches
    downloads and trained artifacts (``cache``) and stores the user's results
    (``results``, a path or URL), and the largest image it reads (``max_pixels``). The
    defaults are those of an empty environment."""

    cache: Path = field(default_factory=lambda: _home(".cache", "licbench"))
    data: Path | None = None
    results: str = field(
        default_factory=lambda: f"sqlite:///{_home('.local', 'share', 'licbench', DEFAULT_DB)}"
    )
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings ``env`` (the process environment) asks for; a one-line error for a
        LICBENCH_MAX_PIXELS that is not a pixel count."""
        env = os.environ if env is None else env
        given = {k: v for k in _NAMES if (v := env.get(k, "").strip())}
        fields: dict[str, object] = {}
        if "LICBENCH_CACHE" in given:
            fields["cache"] = Path(given["LICBENCH_CACHE"]).expanduser()
        if "LICBENCH_DATA" in given:
            fields["data"] = Path(given["LICBENCH_DATA"]).expanduser()
        if "LICBENCH_RESULTS" in given:  # a path or a URL: the store normalises either
            fields["results"] = given["LICBENCH_RESULTS"]
        elif "XDG_DATA_HOME" in given:
            root = Path(given["XDG_DATA_HOME"]).expanduser()
            fields["results"] = f"sqlite:///{root / 'licbench' / DEFAULT_DB}"
        if "LICBENCH_MAX_PIXELS" in given:
            fields["max_pixels"] = _pixels(given["LICBENCH_MAX_PIXELS"])
        return cls(**fields)  # type: ignore[arg-type]

    def environment(self) -> dict[str, str]:
        """The variables that :meth:`from_env` reads back as these settings: for worker
        processes that a local Ray starts, which read their own environment."""
        env = {"LICBENCH_CACHE": str(self.cache), "LICBENCH_RESULTS": self.results,
               "LICBENCH_MAX_PIXELS": str(self.max_pixels)}  # fmt: skip
        return env | ({"LICBENCH_DATA": str(self.data)} if self.data else {})


_NAMES = ("LICBENCH_CACHE", "LICBENCH_DATA", "LICBENCH_RESULTS", "XDG_DATA_HOME",
          "LICBENCH_MAX_PIXELS")  # fmt: skip


def _pixels(value: str) -> int:
    if not value.isdigit() or len(value) > 10 or not 1 <= int(value) <= LIMIT_MAX_PIXELS:
        raise LicbenchError(
            f"LICBENCH_MAX_PIXELS={value[:24]!r}: give a pixel count from 1 to "
            f"{LIMIT_MAX_PIXELS}, or unset it (default {DEFAULT_MAX_PIXELS})"
        )
    return int(value)


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (CUDA_VISIBLE_DEVICES, which Ray sets for each
    worker; empty where unset)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return value.split(",") if value else []


def deterministic_cublas() -> None:
    """cuBLAS's deterministic workspace (CUBLAS_WORKSPACE_CONFIG), unless one is set."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
