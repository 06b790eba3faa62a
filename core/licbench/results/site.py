"""A static leaderboard site: an index and one page per benchmark, readable offline.

``licbench leaderboard --site DIR`` writes ``index.html`` and, per benchmark, a page with
the ranked tables (sortable by a few lines of plain JavaScript inside the page: no CDN),
RD plots (SVG), the per-image spread, the provenance (manifest, versions, weight hashes,
run dates, cell keys) and CSV / JSON downloads of its tables. Every file is written into
DIR, with relative links, so the site opens from ``file://`` and from any web server.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from licbench.bench.store import ResultStore
from licbench.results import robust
from licbench.results import tables as lb
from licbench.results.audit import audit_tables
from licbench.results.backdoor import backdoor_tables

SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var up = th.getAttribute("data-order") !== "asc";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
    th.setAttribute("data-order", up ? "asc" : "desc");
    var key = function (row) {
      var text = row.children[col].getAttribute("data-value") || row.children[col].textContent;
      var num = parseFloat(text);
      return isNaN(num) ? text : num;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-order=asc]::after { content: " ▲"; } th[data-order=desc]::after { content: " ▼"; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; border: 1px solid #ddd; }
.imported { color: #a05a00; }
.verified { color: #1a7f37; } .disagreed { color: #c00; font-weight: bold; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        shown = "" if pd.isna(value) else f"{value:.4f}"
        return f'<td data-value="{"" if pd.isna(value) else repr(value)}">{shown}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table_html(title: str, table: pd.DataFrame, directions: dict[str, bool]) -> str:
    arrow = {True: " ↑", False: " ↓"}
    head = "".join(
        f"<th>{html.escape(str(c) + (arrow[directions[c]] if c in directions else ''))}</th>"
        for c in table
    )
    if "quality" in table:
        shown = [f"{q:g}" if isinstance(q, float) else q for q in table.quality]
        table = table.assign(quality=shown)
    rows = "\n".join(
        "<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.itertuples(index=False)
    )
    return (
        f"<h3>{html.escape(title)}</h3>\n<table class='sortable'><thead><tr>{head}</tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><link rel='icon' href='data:,'>"
        f"<style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n<script>{SORT_JS}</script>\n</body></html>\n"
    )


def spread(wide: pd.DataFrame) -> pd.DataFrame:
    """Per row of the leaderboard: the spread of PSNR and bpp over its images."""
    keys = ["label", "quality", "attack", "defense"]
    out = wide.groupby(keys).agg(
        images=("image", "nunique"),
        **{
            f"{m} {s}": (m, s)
            for m in ("psnr", "bpp")
            if m in wide
            for s in ("min", "median", "max", "std")
        },
    )
    return out.reset_index()


def provenance(bench: str, cells: pd.DataFrame, store: ResultStore, manifest: dict) -> str:
    runs = store.frame("runs")
    runs = runs[runs.benchmark == bench][["id", "status", "started_at", "finished_at"]]
    versions: dict[str, str] = {}
    for text in cells.versions:
        versions.update(json.loads(text or "{}"))
    weights = sorted({json.loads(f or "{}").get("weights", "") for f in cells.fingerprints})
    keys = cells[["key", "label", "quality", "attack", "defense", "finished_at"]]
    return "\n".join(
        [
            "<h2>Provenance</h2>",
            "<h3>Manifest (as run)</h3>",
            f"<pre>{html.escape(yaml.safe_dump(manifest, sort_keys=False))}</pre>",
            table_html(
                "Versions",
                pd.DataFrame(sorted(versions.items()), columns=["package", "version"]),
                {},
            ),
            table_html("Weight hashes", pd.DataFrame({"weights": weights}), {}),
            table_html("Runs", runs.astype(str), {}),
            table_html("Cell keys", keys.astype(str), {}),
        ]
    )


@dataclass
class Site:
    """What every page is made from: the store's current cells, their means and scores."""

    store: ResultStore
    out: Path
    published: Path | None = None
    threat_models: dict[str, list[dict[str, Any]]] | None = None  # else each last run's

    def __post_init__(self) -> None:
        self.means, self.directions, self.configs = lb.load_means(self.store)
        self.cells = lb.current_cells(self.store)
        self.wide = robust.per_image(self.store, self.cells)
        self.manifests = lb.manifests(self.store)

    def write(self) -> list[Path]:
        """The index and every benchmark's page, written into ``out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        benches = sorted(set(self.means.benchmark))
        pages = [self.bench_page(b) for b in benches]
        index = lb.index(self.means, self.store)
        links = "".join(
            f"<li><a href='{lb.slug(b)}.html'>{html.escape(b)}</a></li>" for b in benches
        )
        body = f"<h1>licbench leaderboard</h1>\n<ul>{links}</ul>\n" + table_html(
            "Benchmarks and threat models", index, {}
        )
        (self.out / "index.html").write_text(page("licbench leaderboard", body))
        return [self.out / "index.html", *pages]

    def tables(self, bench: str) -> dict[str, pd.DataFrame]:
        means = self.means[self.means.benchmark == bench]
        given = (self.threat_models or {}).get(bench)
        models = {bench: given or self.manifests.get(bench, {}).get("threat_models", [])}
        wide = self.wide[self.wide.benchmark == bench]
        audited = self.wide[self.wide.benchmark.isin([bench, f"{bench}-audit"])]
        return {
            **robust.robust_tables(wide, models, self.directions),
            **audit_tables(audited, self.manifests),
            **backdoor_tables(wide),
            **lb.bd_summary(means, self.configs),
            **lb.family_tables(means, self.directions, self.configs),
        }

    def imported(self, bench: str, cells: pd.DataFrame) -> str:
        """A mark for the cells that came from a bundle (``licbench import``): whence, and
        the newest ``licbench verify`` result stored for that bundle."""
        from licbench.bench.bundle import verification

        runs = self.store.frame("runs")
        runs = runs[(runs.benchmark == bench) & (runs.status == "imported")]
        marks = []
        for r in runs.itertuples():
            n = int((cells.run_id == r.id).sum())
            info = json.loads(r.versions or "{}")
            source = html.escape(info.get("imported_from", "?"))
            if not n:
                continue
            v = verification(self.store, info.get("bundle_sha256", ""))
            if v is None:
                check = f"not verified here; check them with <code>licbench verify {source}</code>"
            else:
                word = "agrees" if v["status"] == "verified" else "DISAGREES"
                check = (
                    f"<span class='{v['status']}'>verified {v['when']}: {word}</span> on "
                    f"{v['sample']} re-run cells ({v['agree']} of {v['compared']} scores "
                    "within tolerance)"
                )
            marks.append(
                f"<p class='imported'>{n} cells imported from {source} (run {r.id}); {check}</p>"
            )
        return "\n".join(marks)

    def bench_page(self, bench: str) -> Path:
        name = lb.slug(bench)
        tables = self.tables(bench)
        (self.out / f"{name}.csv").write_text(lb.render(tables, self.directions, "csv"))
        (self.out / f"{name}.json").write_text(lb.render(tables, self.directions, "json"))
        means = self.means[self.means.benchmark == bench]
        plots = lb.rd_plot(means, self.out / "plots", fmt="svg", published=self.published)
        cells = self.cells[self.cells.benchmark == bench]
        wide = self.wide[self.wide.benchmark == bench]
        parts = [
            f"<p><a href='index.html'>all benchmarks</a></p><h1>{html.escape(bench)}</h1>",
            self.imported(bench, cells),
            f"<p>Downloads: <a href='{name}.csv' download>CSV</a> · "
            f"<a href='{name}.json' download>JSON</a></p>",
            *(table_html(t, df, self.directions) for t, df in tables.items()),
            "<h2>Rate–distortion</h2>",
            *(
                f"<p><img src='plots/{p.name}' alt='RD plot {html.escape(p.stem)}'></p>"
                for p in plots
            ),
            "<h2>Per-image spread</h2>",
            table_html("PSNR and bpp over images", spread(wide), {}),
            provenance(bench, cells, self.store, self.manifests.get(bench, {})),
        ]
        path = self.out / f"{name}.html"
        path.write_text(page(f"licbench: {bench}", "\n".join(parts)))
        return path
