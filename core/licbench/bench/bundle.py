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
import logging
import math
import random
import secrets
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError
from licbench.hashing import package_versions
from licbench.leaderboard.bundle import (
    FORMAT,
    MAX_JSON,
    MAX_RATIO,
    MAX_SCORES,
    MAX_ZIP,
    Bundle,
    digest,
)
from licbench.plugin.registry import Registry
from licbench.threads import torch_threads

log = logging.getLogger("licbench")
TOLERANCE = {"default": (1e-6, 1e-9)}  # (relative, absolute); timing metrics are not compared


def _member(path: Path) -> bytes:
    """``bundle.json``'s bytes, its sizes checked before anything is decompressed."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_ZIP:
            raise LicbenchError(f"{path}: not a bundle file under {MAX_ZIP >> 20} MiB")
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if [i.filename for i in infos] != ["bundle.json"]:
                raise LicbenchError(f"{path}: a bundle holds bundle.json alone; re-export it")
            info = infos[0]
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_JSON or ratio > MAX_RATIO:
                raise LicbenchError(
                    f"{path}: bundle.json unpacks to {info.file_size} bytes (ratio {ratio:.0f}), "
                    f"over the limits ({MAX_JSON >> 20} MiB, ×{MAX_RATIO}); refused unread"
                )
            with z.open(info) as f:
                data = f.read(MAX_JSON + 1)
    except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
        raise LicbenchError(
            f"{path}: not a licbench bundle ({type(exc).__name__}); export one with licbench export"
        ) from None
    if len(data) > MAX_JSON:
        raise LicbenchError(f"{path}: bundle.json is larger than its entry says; refused")
    return data


def read(path: Path) -> dict[str, Any]:
    """A bundle's document, validated strictly (types and bounds on every field), every
    cell's digest checked; nothing is stored before this passes."""
    data = _member(Path(path))
    try:
        doc = Bundle.model_validate_json(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])[:80]
        raise LicbenchError(
            f"{path}: not a valid {FORMAT} bundle ({where}: {err['msg'][:80]}); re-export it "
            "with licbench export"
        ) from None
    if sum(len(c.scores) for c in doc.cells) > MAX_SCORES:
        raise LicbenchError(f"{path}: more than {MAX_SCORES} scores; split the bundle")
    out = doc.model_dump()
    for row in out["cells"]:
        row["scores"] = [list(s) for s in row["scores"]]
        if digest(row["cell"], row["scores"]) != row["digest"]:
            raise LicbenchError(
                f"{path}: cell {row['cell']['key'][:16]} does not match its digest (edited?); "
                "ask for a fresh export"
            )
    out["sha256"] = hashlib.sha256(data).hexdigest()
    return out


def import_bundle(path: Path, store: ResultStore) -> tuple[int, int]:
    """Merge a bundle as its own submission, in one transaction: (cells added, cells
    already there). Its cells are stored under keys of their own (``SHA16:KEY``), so they
    never satisfy a local run's cell; metric definitions it brings are added only where
    the database has none of that name."""
    doc = read(path)
    ns = doc["sha256"][:16]
    cells = [{**row["cell"], "key": f"{ns}:{row['cell']['key']}"} for row in doc["cells"]]
    scores = {
        c["key"]: [tuple(s) for s in row["scores"]]
        for c, row in zip(cells, doc["cells"], strict=True)
    }
    run = {
        "benchmark": doc["benchmark"],
        "manifest_path": f"import:{Path(path).name}",
        "manifest": doc["manifest"],
        "versions": doc["exported_with"],
        "kind": "import",
        "source": str(Path(path).name)[:200],
        "bundle_sha256": doc["sha256"],
    }
    metrics = [(m["name"], m["higher_is_better"], m["unit"]) for m in doc["metrics"]]
    added = store.import_cells(run, cells, scores, metrics)
    return added, len(cells) - added


def _where(cell: dict[str, Any]) -> tuple[str, str, float, str, str]:
    return (cell["dataset"], cell["label"], float(cell["quality"]), cell["attack"], cell["defense"])


def _missing(manifest: Any, plugins: list[str], reg: Registry) -> list[str]:
    """The plugins the bundle's manifest names that this installation lacks."""
    out = []
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


UNSAFE_KEYS = ("checkpoint", "pretrained", "path", "weights", "artifact", "url")
PATHLIKE = ("/", "~", "..", "file:", "http:", "https:", "ftp:")


def unsafe_settings(value: Any, loc: str = "manifest") -> list[str]:
    """Where a bundle's manifest asks for a local file or a download (the keys of
    ``UNSAFE_KEYS`` set, or a string that looks like a path or a URL)."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in UNSAFE_KEYS and v not in (None, False, "", {}, []):
                out.append(f"{loc}.{k}")
            else:
                out += unsafe_settings(v, f"{loc}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += unsafe_settings(v, f"{loc}[{i}]")
    elif isinstance(value, str) and (value.startswith(PATHLIKE) or "/.." in value):
        out.append(loc)
    return out


def verify(
    path: Path, sample: int, seed: int, registry: Registry, trust: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """Re-run ``sample`` cells of a bundle, drawn with ``seed``, here, on the device and with
    the attack batch they record (:func:`recorded_device`, :func:`recorded_batch`): per
    metric, how many of the compared scores agree within tolerance, and the worst relative
    difference; and the plugins missing here (then nothing runs). The bundle's manifest
    runs as it is (its cells' keys and seeds are its own), with no download and no local
    path unless ``trust``."""
    from licbench.bench.checker import validated
    from licbench.bench.manifest import Manifest
    from licbench.bench.run import Runner

    doc = read(path)
    found = unsafe_settings(doc["manifest"])
    if found and not trust:
        raise LicbenchError(
            f"{path}: its manifest names a local file or a download ({found[0]}); nothing was "
            "run. Read the manifest, then pass --trust-bundle to verify it anyway"
        )
    try:
        missing = _missing(Manifest.model_validate(doc["manifest"]), doc["plugins"], registry)
    except ValidationError:
        missing = []  # named by validated() below, with where
    if missing:
        return pd.DataFrame(), missing
    manifest = validated(doc["manifest"], Path(path), registry=registry)
    rows = random.Random(seed).sample(doc["cells"], min(sample, len(doc["cells"])))
    wanted = {_where(r["cell"]): r for r in rows}
    store = ResultStore("sqlite://")
    cells = [r["cell"] for r in rows]
    device, batch = recorded_device(cells), recorded_batch(cells)
    runner = Runner(
        manifest, store, registry=registry, device=device, progress=False, attack_batch=batch,
        offline=not trust,
    )  # fmt: skip
    with torch_threads(recorded_threads(cells)):
        runner.run(only=lambda p: _where(p.cell.labels()) in wanted)
    here = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    out, timing = [], registry.with_role("metric", "timing")
    for where, row in wanted.items():
        key = row["cell"]["key"]
        mine = here[[_where(c) == where for c in here.to_dict("records")]]
        got = {(i, m): v for i, m, v in zip(mine.image, mine.metric, mine.value, strict=True)}
        for image, metric, value in row["scores"]:
            if metric.split("@")[0] in timing:
                continue
            ok, diff = compare(got.get((image, metric)), value, metric)
            out.append({"cell": key, "metric": metric, "agree": ok, "rel diff": diff})
    frame = pd.DataFrame(out, columns=["cell", "metric", "agree", "rel diff"])
    table = (
        frame.groupby("metric")
        .agg(compared=("agree", "size"), agree=("agree", "sum"), worst_rel_diff=("rel diff", "max"))
        .reset_index()
    )
    table.attrs["cells"] = frame.groupby("cell")["agree"].all().to_dict()
    table.attrs["bundle_cells"] = len(doc["cells"])
    table.attrs["sha256"] = doc["sha256"]  # what names the bundle, read once
    return table, []


def compare(ours: float | None, theirs: float, metric: str) -> tuple[bool, float]:
    """Whether a re-run score agrees with the bundle's within the metric's tolerance, and
    their relative difference; equal values agree, infinities included (the input PSNR of
    a clean cell is inf), as do two NaNs; a score missing here never agrees."""
    if ours is None:
        return False, math.inf
    if ours == theirs or (math.isnan(ours) and math.isnan(theirs)):
        return True, 0.0
    rel, tol = TOLERANCE.get(metric, TOLERANCE["default"])
    diff = abs(ours - theirs)
    return diff <= tol + rel * abs(theirs), diff / max(abs(theirs), 1e-12)


def agrees(table: pd.DataFrame) -> bool:
    """Every compared score within tolerance (and something compared)."""
    return bool(len(table)) and bool((table.agree == table.compared).all())


def record_verification(
    store: ResultStore, path: Path, table: pd.DataFrame, seed: int
) -> int | None:
    """Store a verify result beside the runs that imported this bundle (None: not imported
    into ``store``, nothing written): the seed, which cells were re-run and agreed."""
    digest = table.attrs["sha256"]
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


def recorded_batch(cells: list[dict[str, Any]]) -> int | None:
    """The images per attack call the cells record (``config.attack_batch``), where they
    agree; else None (the device's default): a batch above one may move an attack's
    result, so verify re-runs with the recorded one."""
    found = {json.loads(c["config"]).get("attack_batch") for c in cells} - {None}
    return int(found.pop()) if len(found) == 1 else None


def recorded_threads(cells: list[dict[str, Any]]) -> int | None:
    """The torch threads the cells record (``config.threads``), where they agree; else None
    (this process's): on the CPU, another thread count splits reductions differently and
    moves scores in their last digits, beyond verify's tolerance."""
    found = {json.loads(c["config"]).get("threads") for c in cells} - {None}
    return int(found.pop()) if len(found) == 1 else None


def recorded_device(cells: list[dict[str, Any]]) -> str:
    """The device type the cells record they ran on (``config.device``; cells stored before
    it was recorded ran on the CPU), where every cell agrees and it is here; else the CPU,
    with a warning (scores from another device differ beyond the tolerance)."""
    import torch

    recorded = [json.loads(c["config"]).get("device", "cpu") for c in cells]
    found = {d if d in ("cpu", "cuda") else "another device" for d in recorded}
    if found == {"cuda"} and torch.cuda.is_available():
        return "cuda"
    if found != {"cpu"}:
        log.warning("the bundle's cells ran on %s; re-run on the CPU here", "/".join(found))
    return "cpu"
