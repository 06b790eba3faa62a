"""Submissions that can be checked, the receiving end: import a bundle, verify it.

A bundle (:mod:`licbench.leaderboard.bundle`, which writes them) is a zip holding
``bundle.json``. ``import`` merges a bundle into a results database under a run of kind
``import`` that records its file and digest, refusing a key stored there with other
content. ``verify`` re-runs a sample of the bundle's cells here, drawn with a fresh seed it
prints (given back with ``--seed``, the same sample), and compares every non-timing score
within tolerances; where the bundle was imported into a database, the result is stored in
its ``verifications`` table with the cells it covered (the site shows it).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError
from licbench.hashing import package_versions
from licbench.leaderboard.bundle import FORMAT, digest

TOLERANCE = {"default": (1e-6, 1e-9)}  # (relative, absolute); timing metrics are not compared
TIMING = ("encode-seconds", "decode-seconds")


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
        if digest(row["cell"], row["scores"]) != row["digest"]:
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
    run_id = store.start_run(
        doc["benchmark"],
        f"import:{Path(path).name}",
        doc["manifest"],
        doc["exported_with"],
        kind="import",
        source=str(Path(path).name),
        bundle_sha256=bundle_sha256(path),
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


def fresh_seed() -> int:
    """A sample seed nobody can guess beforehand (printed, so a check can be repeated)."""
    return secrets.randbelow(2**63)


def verify(path: Path, sample: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
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
    runner = Runner(manifest, store, device="cpu", progress=False)
    runner.run(only=lambda p: _where(_describe(p)) in wanted)
    here = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    out = []
    for where, row in wanted.items():
        key = row["cell"]["key"]
        mine = here[[_where(c) == where for c in here.to_dict("records")]]
        got = {(i, m): v for i, m, v in zip(mine.image, mine.metric, mine.value, strict=True)}
        for image, metric, value in row["scores"]:
            if metric.split("@")[0] in TIMING:
                continue
            rel, tol = TOLERANCE.get(metric, TOLERANCE["default"])
            ours = got.get((image, metric))
            ok = ours is not None and abs(ours - value) <= tol + rel * abs(value)
            diff = abs(ours - value) / max(abs(value), 1e-12) if ours is not None else float("inf")
            out.append({"cell": key, "metric": metric, "agree": ok, "rel diff": diff})
    frame = pd.DataFrame(out, columns=["cell", "metric", "agree", "rel diff"])
    table = (
        frame.groupby("metric")
        .agg(compared=("agree", "size"), agree=("agree", "sum"), worst_rel_diff=("rel diff", "max"))
        .reset_index()
    )
    table.attrs["cells"] = frame.groupby("cell")["agree"].all().to_dict()
    table.attrs["bundle_cells"] = len(doc["cells"])
    return table, []


def agrees(table: pd.DataFrame) -> bool:
    """Every compared score within tolerance (and something compared)."""
    return bool(len(table)) and bool((table.agree == table.compared).all())


def record_verification(
    store: ResultStore, path: Path, table: pd.DataFrame, seed: int
) -> int | None:
    """Store a verify result beside the runs that imported this bundle (None: not imported
    into ``store``, nothing written): the seed, which cells were re-run and agreed."""
    digest = bundle_sha256(path)
    runs = store.frame("runs")
    mine = runs[(runs.kind == "import") & (runs.bundle_sha256 == digest)]
    if mine.empty:
        return None
    covered: dict[str, bool] = table.attrs.get("cells", {})
    return store.record_verification(
        {
            "bundle_sha256": digest,
            "bundle": Path(path).name,
            "benchmark": str(mine.benchmark.iloc[0]),
            "seed": str(seed),
            "cells": json.dumps(sorted(covered)),
            "n_cells": table.attrs.get("bundle_cells"),
            "agree_cells": sum(covered.values()),
            "compared": int(table.compared.sum()) if len(table) else 0,
            "agree": int(table.agree.sum()) if len(table) else 0,
            "status": "verified" if agrees(table) else "disagreed",
            "versions": json.dumps(package_versions(), sort_keys=True),
        }
    )


def _describe(p: Any) -> dict[str, Any]:
    cell = p.cell
    return {
        "dataset": cell.dataset.label or cell.dataset.name,
        "label": cell.codec.display,
        "quality": cell.quality,
        "attack": cell.attack.display if cell.attack else "none",
        "defense": cell.defense.display if cell.defense else "none",
    }
