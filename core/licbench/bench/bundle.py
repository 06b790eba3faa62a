"""Submissions that can be checked: export a benchmark, import it elsewhere, verify it.

A bundle is a zip holding ``bundle.json``: the format, the benchmark, the manifest of its
newest run, its cells (config, versions, fingerprints) with their per-image scores, the
plugin distributions they name, and a digest of each cell's content. ``import`` merges a
bundle into a results database under a run of status ``imported`` that records where it
came from, refusing a key stored there with other content. ``verify`` re-runs a sample of
the bundle's cells here and compares every non-timing score within tolerances; where the
bundle was imported into a database, the result is stored there as a run of status
``verified`` or ``disagreed`` that names the bundle (the site shows it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions

FORMAT = "licbench-bundle/1"
TOLERANCE = {"default": (1e-6, 1e-9)}  # (relative, absolute); timing metrics are not compared
TIMING = ("encode-seconds", "decode-seconds")
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
]


def _digest(cell: dict[str, Any], scores: list[list[Any]]) -> str:
    return hash_json([{k: cell.get(k) for k in CELL_COLUMNS}, sorted(scores)])


def export(store: ResultStore, benchmark: str, out: Path) -> int:
    """Write ``benchmark``'s current cells into the bundle ``out``; how many."""
    from licbench.results.tables import current_cells, manifests

    cells = current_cells(store)
    cells = cells[cells.benchmark == benchmark]
    if cells.empty:
        raise LicbenchError(f"{store.url}: no finished cells of benchmark '{benchmark}'")
    scores = store.frame("scores")
    scores = scores[scores.cell_key.isin(set(cells.key))]
    by_cell = {
        k: g[["image", "metric", "value"]].values.tolist() for k, g in scores.groupby("cell_key")
    }
    rows = []
    for c in cells[CELL_COLUMNS].to_dict("records"):
        c = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in c.items()}
        rows.append(
            {
                "cell": c,
                "scores": by_cell.get(c["key"], []),
                "digest": _digest(c, by_cell.get(c["key"], [])),
            }
        )
    plugins = sorted(
        {v for r in rows for k, v in json.loads(r["cell"]["versions"]).items() if ":" in k}
    )
    doc = {
        "format": FORMAT,
        "benchmark": benchmark,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "exported_with": package_versions(),
        "manifest": manifests(store).get(benchmark, {}),
        "plugins": plugins,
        "metrics": store.frame("metrics").to_dict("records"),
        "cells": rows,
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle.json", json.dumps(doc, sort_keys=True, default=str))
    return len(rows)


def read(path: Path) -> dict[str, Any]:
    """A bundle's document, checked for its format and the digest of every cell."""
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("bundle.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise LicbenchError(
            f"{path}: not a licbench bundle ({exc}); export one with licbench export"
        ) from None
    if doc.get("format") != FORMAT:
        raise LicbenchError(
            f"{path}: bundle format {doc.get('format')!r}, not {FORMAT}; re-export it"
        )
    for row in doc["cells"]:
        if _digest(row["cell"], row["scores"]) != row["digest"]:
            raise LicbenchError(
                f"{path}: cell {row['cell']['key'][:16]} does not match its digest (edited?); "
                "ask for a fresh export"
            )
    return doc


def bundle_sha256(path: Path) -> str:
    """What names a bundle's content: the SHA-256 of its ``bundle.json``."""
    with zipfile.ZipFile(path) as z:
        return hashlib.sha256(z.read("bundle.json")).hexdigest()


def import_bundle(path: Path, store: ResultStore) -> tuple[int, int]:
    """Merge a bundle: (cells added, cells already there with the same content)."""
    doc = read(path)
    have = store.frame("cells").set_index("key")
    for row in doc["cells"]:  # refuse before writing anything
        key = row["cell"]["key"]
        if key in have.index and have.loc[key, "status"] == "done":
            stored = {k: have.loc[key, k] for k in ("config", "versions", "fingerprints")}
            if any(stored[k] != row["cell"][k] for k in stored):
                raise LicbenchError(
                    f"{path}: cell {key[:16]} is stored in {store.url} with other content; "
                    "nothing was imported (import into another --db)"
                )
    versions = {
        "imported_from": str(Path(path).name),
        "bundle_sha256": bundle_sha256(path),
        "exported_with": doc["exported_with"],
    }
    run_id = store.start_run(
        doc["benchmark"], f"import:{Path(path).name}", doc["manifest"], versions
    )
    metrics = doc.get("metrics", [])
    store.record_metrics((m["name"], bool(m["higher_is_better"]), m["unit"]) for m in metrics)
    added = 0
    for row in doc["cells"]:
        scores = [tuple(s) for s in row["scores"]]
        added += store.record_cell({**row["cell"], "run_id": run_id}, scores)  # type: ignore[arg-type]
    store.finish_run(run_id, "imported")
    return added, len(doc["cells"]) - added


def _where(cell: dict[str, Any]) -> tuple[str, str, float, str, str]:
    return (cell["dataset"], cell["label"], float(cell["quality"]), cell["attack"], cell["defense"])


def _missing(manifest: Any, plugins: list[str]) -> list[str]:
    """The plugins the bundle's manifest names that this installation lacks."""
    from licbench.plugin.manager import get_registry

    reg, out = get_registry(), []
    refs = [
        ("dataset", manifest.datasets),
        ("codec", manifest.codecs),
        ("attack", manifest.attacks),
        ("defense", manifest.defenses),
        ("metric", manifest.metrics),
    ]
    for kind, items in refs:
        for ref in items:
            if ref.name not in reg.names(kind):
                out.append(f"{kind} '{ref.name}'")
    if out:
        out.append(f"(the bundle's plugins: {', '.join(plugins) or 'built-in only'})")
    return out


def verify(path: Path, sample: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Re-run ``sample`` random cells of a bundle here: per metric, how many of the compared
    scores agree within tolerance, and the worst relative difference; and the plugins
    missing here (then nothing runs)."""
    from licbench.bench.manifest import Manifest
    from licbench.bench.runner import Runner

    doc = read(path)
    manifest = Manifest.model_validate(doc["manifest"])
    missing = _missing(manifest, doc["plugins"])
    if missing:
        return pd.DataFrame(), missing
    rows = random.Random(seed).sample(doc["cells"], min(sample, len(doc["cells"])))
    wanted = {_where(r["cell"]): r for r in rows}
    store = ResultStore("sqlite://")
    runner = Runner(manifest, store, progress=False)
    runner.run(only=lambda p: _where(_describe(p)) in wanted)
    here = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    out = []
    for where, row in wanted.items():
        mine = here[[_where(c) == where for c in here.to_dict("records")]]
        got = {(i, m): v for i, m, v in zip(mine.image, mine.metric, mine.value, strict=True)}
        for image, metric, value in row["scores"]:
            if metric.split("@")[0] in TIMING:
                continue
            rel, tol = TOLERANCE.get(metric, TOLERANCE["default"])
            ours = got.get((image, metric))
            ok = ours is not None and abs(ours - value) <= tol + rel * abs(value)
            diff = abs(ours - value) / max(abs(value), 1e-12) if ours is not None else float("inf")
            out.append({"metric": metric, "agree": ok, "rel diff": diff})
    frame = pd.DataFrame(out)
    table = (
        frame.groupby("metric")
        .agg(compared=("agree", "size"), agree=("agree", "sum"), worst_rel_diff=("rel diff", "max"))
        .reset_index()
    )
    return table, []


def agrees(table: pd.DataFrame) -> bool:
    """Every compared score within tolerance (and something compared)."""
    return bool(len(table)) and bool((table.agree == table.compared).all())


def record_verification(
    store: ResultStore, path: Path, table: pd.DataFrame, sample: int, seed: int
) -> int | None:
    """Store a verify result beside the runs that imported this bundle (None: not imported
    into ``store``, nothing written)."""
    digest = bundle_sha256(path)
    runs = store.frame("runs")
    runs = runs[runs.status == "imported"]
    mine = [
        r
        for r in runs.itertuples()
        if json.loads(r.versions or "{}").get("bundle_sha256") == digest
    ]
    if not mine:
        return None
    versions = {
        "verified": Path(path).name,
        "bundle_sha256": digest,
        "sample": str(sample),
        "seed": str(seed),
        "result": table.to_json(orient="records"),
        **package_versions(),
    }
    run_id = store.start_run(mine[0].benchmark, f"verify:{Path(path).name}", {}, versions)
    store.finish_run(run_id, "verified" if agrees(table) else "disagreed")
    return run_id


def verification(store: ResultStore, digest: str) -> dict[str, Any] | None:
    """The newest stored verify result of the bundle with this SHA-256, if any."""
    runs = store.frame("runs")
    runs = runs[runs.status.isin(["verified", "disagreed"])].sort_values("id")
    for r in reversed(list(runs.itertuples())):
        info = json.loads(r.versions or "{}")
        if info.get("bundle_sha256") == digest:
            result = json.loads(info.get("result", "[]"))
            return {
                "status": r.status,
                "when": str(r.finished_at)[:19],
                "sample": info.get("sample"),
                "compared": sum(int(x["compared"]) for x in result),
                "agree": sum(int(x["agree"]) for x in result),
            }
    return None


def _describe(p: Any) -> dict[str, Any]:
    cell = p.cell
    return {
        "dataset": cell.dataset.label or cell.dataset.name,
        "label": cell.codec.display,
        "quality": cell.quality,
        "attack": cell.attack.display if cell.attack else "none",
        "defense": cell.defense.display if cell.defense else "none",
    }
