"""Submissions that can be checked, the sending end: export what the leaderboard shows.

A bundle is a zip holding ``bundle.json``: the format, the benchmark, the manifest of its
newest run, its current cells (config, versions, fingerprints, kind) with their per-image
scores, the plugin distributions they name, and a digest of each cell's content
(:mod:`licbench.bench.bundle` imports and verifies them).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.leaderboard.view import Results

FORMAT = "licbench-bundle/2"
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
