"""Submissions that can be checked, the sending end: export what the leaderboard shows.

A bundle is a zip holding ``bundle.json``: the format, the benchmark, the manifest of its
newest run, its current cells (config, versions, fingerprints, kind) with their per-image
scores, the plugin distributions they name, and a digest of each cell's content
(:mod:`licbench.bench.bundle` imports and verifies them).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.leaderboard.view import Results

FORMAT = "licbench-bundle/2"
MAX_ZIP = 64 << 20  # bytes of the zip file
MAX_JSON = 64 << 20  # bytes of bundle.json, decompressed (checked before reading)
MAX_RATIO = 200  # decompressed / compressed: a higher ratio is a zip bomb
MAX_CELLS = 5_000
MAX_SCORES = 2_000_000

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, Field(max_length=1 << 20)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CellRow(_Strict):
    """A cell as a bundle carries it: every field typed and bounded."""

    key: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    benchmark: Name
    dataset: Name
    codec: Name
    label: Name
    family: Name | None
    learned: bool | None
    quality: float
    attack: Name
    defense: Name
    status: Literal["done"]
    n_images: Annotated[int, Field(ge=0, le=1_000_000)] | None
    config: Text
    versions: Text
    fingerprints: Text
    kind: Literal["clean", "adversarial", "backdoor"] | None
    partial: bool
    backdoor: Name | None
    variant: Name | None

    @field_validator("quality")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("a quality is a finite number")
        return v

    @field_validator("config", "versions", "fingerprints")
    @classmethod
    def _json_object(cls, v: str) -> str:
        if not isinstance(json.loads(v), dict):
            raise ValueError("a JSON object")
        return v


Score = tuple[Name, Name, float | None]


class BundleCell(_Strict):
    cell: CellRow
    scores: list[Score]
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class MetricRow(_Strict):
    name: Name
    higher_is_better: bool
    unit: Annotated[str, Field(max_length=50)] | None


class Bundle(_Strict):
    """``bundle.json``, validated strictly before anything is stored."""

    format: Literal["licbench-bundle/2"]
    benchmark: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
    exported_at: Annotated[str, Field(max_length=64)]
    exported_with: dict[Name, Annotated[str, Field(max_length=100)]]
    manifest: dict[str, Any]
    plugins: list[Name]
    metrics: list[MetricRow]
    cells: Annotated[list[BundleCell], Field(max_length=MAX_CELLS)]


CELL_COLUMNS = [
    "key",
    "benchmark",
    "dataset",
    "codec",
    "label",
    "family",
    "learned",
    "quality",
    "attack",
    "defense",
    "status",
    "n_images",
    "config",
    "versions",
    "fingerprints",
    "kind",
    "partial",
    "backdoor",
    "variant",
]


def digest(cell: dict[str, Any], scores: list[list[Any]]) -> str:
    """What a cell's digest covers: its columns and its sorted scores."""
    return hash_json([{k: cell.get(k) for k in CELL_COLUMNS}, sorted(scores)])


def export(results: Results, benchmark: str, out: Path) -> int:
    """Write ``benchmark``'s current complete cells into the bundle ``out``; how many."""
    cells = results.cells[(results.cells.benchmark == benchmark) & ~results.cells.partial]
    if cells.empty:
        raise LicbenchError(
            f"{', '.join(results.sources)}: no finished cells of benchmark '{benchmark}'"
        )
    store = results.store(benchmark)
    scores = store.frame("scores")
    scores = scores[scores.cell_key.isin(set(cells.key))]
    by_cell = {
        k: g[["image", "metric", "value"]].values.tolist() for k, g in scores.groupby("cell_key")
    }
    rows = []
    for c in cells[CELL_COLUMNS].to_dict("records"):
        c = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in c.items()}
        c["partial"] = bool(c["partial"])
        found = by_cell.get(c["key"], [])
        rows.append({"cell": c, "scores": found, "digest": digest(c, found)})
    plugins = sorted(
        {v for r in rows for k, v in json.loads(r["cell"]["versions"]).items() if ":" in k}
    )
    doc = {
        "format": FORMAT,
        "benchmark": benchmark,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "exported_with": package_versions(),
        "manifest": results.manifest(benchmark),
        "plugins": plugins,
        "metrics": store.frame("metrics").to_dict("records"),
        "cells": rows,
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle.json", json.dumps(doc, sort_keys=True, default=str))
    return len(rows)
