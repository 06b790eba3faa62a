"""The results view: one read of the stored results, from which every table is derived.

``Results`` reads cells, per-image scores, runs, metric directions and verifications once,
from one database or from several *sources* in order of precedence (the user's own results
before the shipped reference results). A benchmark's tables come from the first source
that holds it, and say which. The leaderboard, the site, ``licbench audit`` and the
benchmark scripts all take their tables from here; nothing else assembles them.

What an entry is:

- a finished cell of the newest run that scored its row (dataset, codec, quality, attack,
  defense), on the newest weights of its codec and quality (older cells stay stored);
- never a *partial* cell (a run narrowed from the command line, e.g. ``--limit-images``),
  unless asked for with ``partial=True``: then partial rows are shown beside the complete
  ones, labelled ``(partial)``, and never replace them;
- imported cells (``licbench import``) belong to their submission: they are shown as the
  benchmark ``B [imported: FILE]``, never beside or in place of a local run of ``B``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from licbench.bench.store import ResultStore, exists, sqlite_path
from licbench.errors import LicbenchError, nearest
from licbench.published import Published, anchors

GROUP = ["benchmark", "dataset", "family", "label", "quality", "attack", "defense"]
PARTIAL = " (partial)"


@dataclass
class Table:
    """One table to show: its rows, the sentence that says what it ranks or shows, and
    its kind (``ranking``, ``verdicts`` and ``summary`` lead a page; ``details`` are
    collapsed)."""

    frame: pd.DataFrame
    caption: str
    kind: str = "ranking"


def current(cells: pd.DataFrame) -> pd.DataFrame:
    """Of finished cells, those the leaderboard shows: the newest run of each row, on the
    newest weights of each (benchmark, codec, quality), so that a re-run replaces rows
    instead of averaging old and new results."""
    cells = cells.sort_values("run_id")
    newest = cells.groupby(GROUP, dropna=False)["run_id"].transform("max")
    cells = cells[cells.run_id == newest]
    weights = pd.Series([_weights(f) for f in cells.fingerprints], index=cells.index, dtype=object)
    codec = ["benchmark", "family", "label", "quality"]
    latest = weights.groupby([cells[c] for c in codec], dropna=False).transform("last")
    return cells[weights == latest]


def _weights(text: Any) -> str:
    found = _json(text, {})
    return str(found.get("weights") or "") if isinstance(found, dict) else ""


def _json(text: Any, default: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) and text else default
    except ValueError:
        return default


def _source(name: str, store: ResultStore, partial: bool) -> dict[str, pd.DataFrame]:
    """One database's current cells (tagged with ``from_db``), per-image scores, runs,
    metrics, verifications, and the cells whose run failed."""
    runs = store.frame("runs")
    stored = store.frame("cells")
    cells = stored[stored.status == "done"].copy()
    failed = _newest_failures(stored[stored.status == "failed"], cells).assign(from_db=name)
    cells["partial"] = cells.partial.fillna(False).astype(bool)
    if not partial:
        cells = cells[~cells.partial]
    cells.loc[cells.partial, "label"] = cells.label[cells.partial] + PARTIAL
    imports = runs[runs.kind == "import"]  # a submission's cells are shown under its name
    own = {int(r.id): f"{r.benchmark} [imported: {r.source}]" for r in imports.itertuples()}
    cells["imported"] = cells.run_id.isin(own)
    cells.loc[cells.imported, "benchmark"] = cells.run_id[cells.imported].map(own)
    runs = runs.copy()
    runs.loc[runs.id.isin(own), "benchmark"] = runs.id[runs.id.isin(own)].map(own)
    cells = current(cells).assign(from_db=name)
    scores = store.frame("scores")
    scores = scores[scores.cell_key.isin(set(cells.key))]
    frame = scores.merge(cells[["key", *GROUP, "learned"]], left_on="cell_key", right_on="key")
    wide = frame.pivot_table(
        index=[*GROUP, "learned", "image"], columns="metric", values="value", aggfunc="first"
    ).reset_index()
    wide.columns.name = None
    return {
        "cells": cells,
        "wide": wide.assign(from_db=name),
        "runs": runs.assign(from_db=name),
        "metrics": store.frame("metrics"),
        "verifications": store.frame("verifications").assign(from_db=name),
        "failed": failed[[*FAILED, "from_db"]],
    }


FAILED = ["benchmark", "dataset", "label", "quality", "attack", "defense", "error"]


def _newest_failures(failed: pd.DataFrame, done: pd.DataFrame) -> pd.DataFrame:
    """The failed cells no later run of the same row finished: what a reader must see."""
    row = FAILED[:-1]
    last_done = done.groupby(row, dropna=False)["run_id"].max().rename("done_run").reset_index()
    found = failed.merge(last_done, on=row, how="left")
    found = found[found.done_run.isna() | (found.run_id > found.done_run)]
    return found.assign(error=[_first_line(e) for e in found.error])


def _first_line(error: Any) -> str:
    """An error's one line (of an old traceback: its last line)."""
    lines = [ln for ln in str(error).splitlines() if ln.strip()] or [""]
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


class Results:
    """Stored results as tables: ``Results([("yours", store), ("reference", ref)])``."""

    def __init__(
        self,
        sources: ResultStore | list[tuple[str, ResultStore]],
        partial: bool = False,
        published: Published | None = None,
    ) -> None:
        """``published``: the folder of published Kodak curves (CompressAI's format), whose
        state-of-the-art anchors join the BD-rate tables of full-size Kodak."""
        self.published = published
        if isinstance(sources, ResultStore):
            sources = [(sources.url, sources)]
        self.sources = [name for name, _ in sources]
        self._stores = dict(sources)
        parts = [_source(name, store, partial) for name, store in sources]
        self.origin: dict[str, str] = {}  # benchmark -> the source its tables come from:
        for complete in (True, False):  # the first with complete cells of it, else any
            for name, part in zip(self.sources, parts, strict=True):
                cells = part["cells"]
                cells = cells[~cells.partial] if complete else cells
                for bench in sorted(set(cells.benchmark)):
                    self.origin.setdefault(str(bench), name)
        for name, part in zip(self.sources, parts, strict=True):  # failures alone: a page too
            for bench in sorted(set(part["failed"].benchmark)):
                self.origin.setdefault(str(bench), name)

        def mine(f: pd.DataFrame) -> pd.DataFrame:
            """Rows of each benchmark's own source, and partial rows beside them."""
            if "label" in f:
                beside = [str(lb).endswith(PARTIAL) for lb in f.label]
            else:  # runs
                beside = list(f.partial.fillna(False).astype(bool))
            rows = zip(f.benchmark, f.from_db, beside, strict=True)
            keep = [self.origin.get(str(b)) == s or part for b, s, part in rows]
            return f[pd.Series(keep, index=f.index, dtype=bool)]  # [] would pick columns

        self.cells = pd.concat([mine(p["cells"]) for p in parts], ignore_index=True)
        self.failed = pd.concat([mine(p["failed"]) for p in parts], ignore_index=True)
        if self.cells.empty and self.failed.empty:
            raise LicbenchError(
                f"{', '.join(s.url for _, s in sources)}: holds no finished cells; "
                "run `licbench run MANIFEST` first"
            )
        self.wide = pd.concat([mine(p["wide"]) for p in parts], ignore_index=True)
        self.runs = pd.concat([mine(p["runs"]) for p in parts], ignore_index=True)
        self.verifications = pd.concat([p["verifications"] for p in parts], ignore_index=True)
        self.directions: dict[str, bool] = {}
        for p in reversed(parts):  # the first source's definitions win
            m = p["metrics"]
            self.directions.update(zip(m.name, m.higher_is_better.astype(bool), strict=True))
        self.means = self._means()

    def _means(self) -> pd.DataFrame:
        metrics = [c for c in self.wide.columns if c in self.directions]
        keys = [*GROUP, "learned"]
        means = self.wide.groupby(keys, dropna=False)[metrics].mean().reset_index()
        n = self.wide.groupby(keys, dropna=False)["image"].nunique().rename("images")
        return means.merge(n.reset_index(), on=keys)

    def store(self, bench: str) -> ResultStore:
        """The database ``bench``'s tables come from."""
        return self._stores[self.origin[self.check(bench)]]

    # --- what each benchmark is ------------------------------------------------------------

    def provenance(self, bench: str) -> str:
        """Where ``bench``'s tables come from, in words: your results, the reference
        results, or the results of the one database given (``--db``)."""
        origin = self.origin[self.check(bench)]
        named = {"yours": "your results", "reference": "reference results"}
        return named.get(origin, f"results of {origin}")

    def benchmarks(self) -> list[str]:
        return sorted(self.origin)

    def check(self, bench: str) -> str:
        """``bench``, or a one-line error with the nearest stored name."""
        if bench in self.origin:
            return bench
        near = nearest(bench, self.benchmarks())
        fix = f"did you mean '{near}'?" if near else f"stored: {', '.join(self.benchmarks())}"
        raise LicbenchError(f"{', '.join(self.sources)}: no benchmark '{bench}'; {fix}")

    def _runs_of(self, bench: str) -> pd.DataFrame:
        """The runs whose cells ``bench`` shows, oldest first."""
        cells = self.cells[self.cells.benchmark == bench]
        used = set(zip(cells.from_db, cells.run_id, strict=True))
        pairs = zip(self.runs.from_db, self.runs.id, strict=True)
        mine = pd.Series([(s, i) in used for s, i in pairs], index=self.runs.index, dtype=bool)
        runs = self.runs[(self.runs.benchmark == bench) & mine]
        own = runs.from_db == self.origin.get(bench)  # its own source's runs last: newest
        return runs.assign(_own=own).sort_values(["_own", "id"]).drop(columns="_own")

    def _newest(self, bench: str, column: str) -> dict[str, Any]:
        """A JSON mapping column of the newest run ``bench`` shows (empty where none)."""
        runs = self._runs_of(bench)
        found = _json(runs[column].iloc[-1], {}) if len(runs) else {}
        return found if isinstance(found, dict) else {}

    def manifest(self, bench: str) -> dict[str, Any]:
        """The manifest of the newest run ``bench`` shows."""
        return self._newest(bench, "manifest")

    def threat_models(self, bench: str) -> list[dict[str, Any]]:
        """The threat models the runs of ``bench`` recorded (the newest of each name)."""
        out: dict[str, dict[str, Any]] = {}
        for text in self._runs_of(bench).threat_models:
            found = _json(text, [])
            for tm in found if isinstance(found, list) else []:
                if isinstance(tm, dict) and isinstance(tm.get("name"), str):
                    out[tm["name"]] = tm
        return list(out.values())

    def settings(self, bench: str) -> dict[str, Any]:
        """The leaderboard settings (``rank_by``, ``anchor``) of the newest run shown."""
        return self._newest(bench, "leaderboard")

    def kind(self, bench: str) -> str:
        runs = self._runs_of(bench)
        return (
            str(runs.kind.iloc[-1]) if len(runs) and isinstance(runs.kind.iloc[-1], str) else "run"
        )

    def audits(self, bench: str) -> list[str]:
        """The stored audit benchmarks of ``bench``."""
        runs = self.runs[(self.runs.kind == "audit") & (self.runs.audit_of == bench)]
        return sorted({str(b) for b in runs.benchmark if b in self.origin})

    def imports(self, bench: str) -> list[dict[str, Any]]:
        """Per import run shown in ``bench``: its bundle, cell count and newest check."""
        out = []
        for r in self._runs_of(bench).itertuples():
            if r.kind != "import":
                continue
            n = int(((self.cells.run_id == r.id) & (self.cells.from_db == r.from_db)).sum())
            checks = self.verifications[self.verifications.bundle_sha256 == r.bundle_sha256]
            last = checks.sort_values("id").iloc[-1].to_dict() if len(checks) else None
            out.append({"run": r.id, "source": r.source, "cells": n, "verification": last})
        return out

    # --- tables ----------------------------------------------------------------------------

    def tables(
        self,
        bench: str,
        rank_by: str | None = None,
        threat_models: list[dict[str, Any]] | None = None,
    ) -> dict[str, Table]:
        """Every table of ``bench``, its rankings first: threat models, audit verdicts,
        backdoors, BD-rate against the anchor, then the per-codec details."""
        from licbench.leaderboard import tables as t

        self.check(bench)
        wide = self.wide[self.wide.benchmark == bench]
        means = self.means[self.means.benchmark == bench]
        models = threat_models if threat_models is not None else self.threat_models(bench)
        out: dict[str, Table] = {}
        out.update(t.threat_tables(bench, wide, models, self.directions))
        for audit in ([bench] if self.kind(bench) == "audit" else []) + self.audits(bench):
            out.update(t.audit_verdicts(audit, self.wide[self.wide.benchmark == audit],
                                        self.threat_models(audit)))  # fmt: skip
        out.update(t.backdoor_tables(bench, wide, self.cells[self.cells.benchmark == bench]))
        out.update(t.bd_summary(bench, means, self.settings(bench), self._anchors(bench)))
        failed = self.failed[self.failed.benchmark == bench]
        if len(failed):  # shown, never ranked: a row above may come from an older run
            out[f"{bench} / failed cells"] = Table(
                failed[FAILED[1:]].reset_index(drop=True),
                f"{len(failed)} cells whose run failed, with their errors: not ranked; a row "
                "above for the same cell comes from an earlier run. `licbench run` retries them.",
                "summary",
            )
        out.update(t.family_tables(bench, means, self.directions, rank_by or
                                   self.settings(bench).get("rank_by")))  # fmt: skip
        return out

    def published_on(self, bench: str) -> list[str]:
        """The datasets of ``bench`` that are full-size Kodak (every image, uncropped): where
        published curves compare with measured ones, in tables and plots."""
        if self.published is None:
            return []
        on, cells = self.published.dataset, self.cells[self.cells.benchmark == bench]
        return [
            str(ds)
            for ds, part in cells.groupby("dataset")
            if all(
                r.get("name") == on and not r.get("crop") and not r.get("limit")
                for r in (_json(c, {}).get("dataset") or {} for c in part.config)
            )
        ]

    def _anchors(self, bench: str) -> dict[str, dict[str, pd.DataFrame]]:
        """The published anchors, for each dataset of ``bench`` that is full-size Kodak."""
        found = anchors(self.published)
        return {ds: found for ds in self.published_on(bench)} if found else {}

    def index(self) -> pd.DataFrame:
        """One line per benchmark: where it comes from, what it holds, what it ranks."""
        rows = []
        for bench in self.benchmarks():
            part = self.means[self.means.benchmark == bench]
            cells = self.cells[self.cells.benchmark == bench]
            tms = [str(tm["name"]) for tm in self.threat_models(bench)]
            rows.append(
                {
                    "benchmark": bench,
                    "source": self.origin[bench],
                    "datasets": ", ".join(sorted({str(d) for d in part.dataset})),
                    "codecs": part.label.nunique(),
                    "rows": len(part),
                    "images": int(part.images.max()) if len(part) else 0,
                    "threat models": ", ".join(tms) or "—",
                    "imported": int(cells.imported.sum()),
                    "failed": int((self.failed.benchmark == bench).sum()),
                }
            )
        return pd.DataFrame(rows)


def sources(
    db: str | None = None, *, user: str | None = None, reference: str | None = None
) -> list[tuple[str, ResultStore]]:
    """The databases to read: ``db`` alone (which must exist); else the ``user``'s database
    before the shipped ``reference``, each where it exists."""
    if db is not None:
        store, path = ResultStore(db, create=False), sqlite_path(db)
        return [(path.name if path else store.url, store)]
    found = [
        (name, ResultStore(url, create=False))
        for name, url in (("yours", user), ("reference", reference))
        if url is not None and exists(url)
    ]
    if not found:
        raise LicbenchError(
            f"{user}: no results database there (and no reference results); run "
            "`licbench run MANIFEST` first, or pass the --db that holds the results"
        )
    return found


def open_results(
    db: str | None = None,
    *,
    user: str | None = None,
    reference: str | None = None,
    partial: bool = False,
    published: Published | None = None,
) -> Results:
    """The results of :func:`sources` as one view."""
    return Results(sources(db, user=user, reference=reference), partial, published)
