"""A static leaderboard site: an index and one page per benchmark, readable offline.

``licbench leaderboard --site DIR`` writes ``index.html`` and, per benchmark, a page with
the rankings first, each with its caption (sortable by a few lines of plain JavaScript
inside the page: no CDN; FAIL verdicts highlighted), RD plots (SVG), then, collapsed, the
per-cell tables, the per-image spread and the provenance (manifest, versions, weight
hashes, runs, cell keys), and CSV / JSON downloads of its tables. Every value is escaped.
Every file is written into DIR, with relative links, so the site opens from ``file://``
and from any web server.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from licbench.leaderboard.plots import rd_plot
from licbench.leaderboard.render import render, table_html
from licbench.leaderboard.tables import slug
from licbench.leaderboard.view import Results, Table, _weights
from licbench.published import Published

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
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 12px; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; overflow-wrap: anywhere; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-order=asc]::after { content: " ▲"; } th[data-order=desc]::after { content: " ▼"; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f7f7f7; padding: 0.6em; white-space: pre-wrap; overflow-wrap: anywhere;
      font-size: 12px; }
.caption { color: #444; font-size: 13px; margin: 0.2em 0; }
td.fail { background: #fdd; color: #a00; font-weight: bold; }
details > summary h2 { display: inline; cursor: pointer; }
.source { color: #555; }
img { max-width: 100%; border: 1px solid #ddd; }
.imported { color: #a05a00; }
.verified { color: #1a7f37; } .disagreed { color: #c00; font-weight: bold; }
"""


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


def provenance(bench: str, results: Results) -> str:
    cells = results.cells[results.cells.benchmark == bench]
    runs = results.runs[results.runs.benchmark == bench]
    runs = runs[["id", "kind", "status", "host", "code_commit", "started_at", "finished_at"]]
    versions: dict[str, str] = {}
    for text in cells.versions:
        found = json.loads(text or "{}")
        versions.update(
            {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
        )
    weights = sorted({_weights(f) for f in cells.fingerprints})
    keys = cells[["key", "label", "quality", "attack", "defense", "finished_at"]]
    frames = {
        "Versions": pd.DataFrame(sorted(versions.items()), columns=["package", "version"]),
        "Weight hashes": pd.DataFrame({"weights": weights}),
        "Runs": runs.astype(str),
        "Cell keys": keys.astype(str),
    }
    manifest = yaml.safe_dump(results.manifest(bench), sort_keys=False)
    return "\n".join(
        [
            "<details><summary><h2>Provenance</h2></summary>",
            "<h3>Manifest (as run)</h3>",
            f"<pre>{html.escape(manifest)}</pre>",
            *(table_html(t, Table(f, "", "details"), {}) for t, f in frames.items()),
            "</details>",
        ]
    )


@dataclass
class Site:
    """The pages of a results view, written into ``out``."""

    results: Results
    out: Path
    published: Published | None = None
    threat_models: dict[str, list[dict[str, Any]]] | None = None  # else each run's own

    def write(self, only: str | None = None) -> list[Path]:
        """The index and every benchmark's page (``only``: that one's), written into ``out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        r = self.results
        benches = r.benchmarks()
        pages = [self.bench_page(b) for b in ([only] if only else benches)]
        links = "".join(
            f"<li><a href='{slug(b)}.html'>{html.escape(b)}</a> "
            f"<span class='source'>({html.escape(r.provenance(b))})</span></li>"
            for b in benches
        )
        body = f"<h1>licbench leaderboard</h1>\n<ul>{links}</ul>\n" + table_html(
            "Benchmarks and threat models", Table(r.index(), "", "details"), {}
        )
        (self.out / "index.html").write_text(page("licbench leaderboard", body))
        return [self.out / "index.html", *pages]

    def imported(self, bench: str) -> str:
        """A mark for the cells that came from a bundle: whence, and what a ``licbench
        verify`` here re-ran and found (never more than it checked)."""
        marks = []
        for imp in self.results.imports(bench):
            source = html.escape(str(imp["source"]))
            v = imp["verification"]
            if v is None:
                check = f"not verified here; check them with <code>licbench verify {source}</code>"
            else:
                cells = v.get("agree_cells")
                covered = len(json.loads(v["cells"])) if isinstance(v.get("cells"), str) else None
                what = (
                    f"re-run here: {int(cells)} of {covered} cells agree"
                    if covered is not None and cells is not None and not pd.isna(cells)
                    else f"{v['agree']} of {v['compared']} re-run scores within tolerance"
                )
                check = (
                    f"<span class='{html.escape(str(v['status']))}'>verified "
                    f"{html.escape(str(v['verified_at'])[:19])}: {what}</span>"
                )
            marks.append(
                f"<p class='imported'>{imp['cells']} cells imported from {source} "
                f"(run {imp['run']}); {check}</p>"
            )
        return "\n".join(marks)

    def bench_page(self, bench: str) -> Path:
        r, name = self.results, slug(bench)
        given = (self.threat_models or {}).get(bench)
        tables = r.tables(bench, threat_models=given)
        (self.out / f"{name}.csv").write_text(render(tables, r.directions, "csv"))
        (self.out / f"{name}.json").write_text(render(tables, r.directions, "json"))
        means = r.means[r.means.benchmark == bench]
        wide = r.wide[r.wide.benchmark == bench]
        on = [(bench, ds) for ds in r.published_on(bench)]
        plots = rd_plot(means, wide, self.out / "plots", "svg", self.published, on)
        ranks = {t: x for t, x in tables.items() if x.kind != "details"}
        details = {t: x for t, x in tables.items() if x.kind == "details"}
        source = r.provenance(bench)  # a sentence here: only its first letter raised
        parts = [
            f"<p><a href='index.html'>all benchmarks</a></p><h1>{html.escape(bench)}</h1>",
            f"<p class='source'>{html.escape(source[:1].upper() + source[1:])}</p>",
            self.imported(bench),
            f"<p>Downloads: <a href='{name}.csv' download>CSV</a> · "
            f"<a href='{name}.json' download>JSON</a></p>",
            *(table_html(t, x, r.directions, wide=False) for t, x in ranks.items()),
            "<h2>Rate–distortion</h2>",
            *(
                f"<p><img src='plots/{p.name}' alt='RD plot {html.escape(p.stem)}'></p>"
                for p in plots
            ),
            "<details><summary><h2>Per-cell details</h2></summary>",
            *(table_html(t, x, r.directions) for t, x in details.items()),
            "<h3>Per-image spread</h3>",
            table_html("PSNR and bpp over images", Table(spread(wide), "", "details"), {}),
            "</details>",
            provenance(bench, r),
        ]
        path = self.out / f"{name}.html"
        path.write_text(page(f"licbench: {bench}", "\n".join(parts)))
        return path
