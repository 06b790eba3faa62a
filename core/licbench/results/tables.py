"""Ranked tables and a rate-distortion plot from the results database.

One table per benchmark and codec family (rows: codec, quality, attack, defense; columns:
mean of each metric over images, with its direction), ranked by the benchmark's
``leaderboard.rank_by`` metric in that metric's direction; and, per benchmark and dataset,
a summary ranking codecs by BD-rate against the anchor codec on clean results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from licbench.bench.store import ResultStore
from licbench.bjontegaard import bd_psnr, bd_rate
from licbench.errors import LicbenchError
from licbench.published import for_codec

GROUP = ["benchmark", "dataset", "family", "label", "quality", "attack", "defense"]


def current_cells(store: ResultStore) -> pd.DataFrame:
    """Finished cells, less those superseded, so that re-running a manifest replaces rows
    instead of averaging old and new results (older cells stay in the database):

    - a leaderboard row (benchmark, dataset, codec, quality, attack, defense) shows only
      the newest run that scored it;
    - once a codec's weights change (a new release of shipped weights), a benchmark's rows
      scored on the older weights of that codec and quality are dropped, including rows the
      re-run did not reach: they would otherwise sit beside, and be compared with, the new
      weights' rows.
    """
    cells = store.frame("cells")
    cells = cells[cells.status == "done"].sort_values("run_id")
    newest = cells.groupby(GROUP, dropna=False)["run_id"].transform("max")
    cells = cells[cells.run_id == newest]
    weights = pd.Series(
        [json.loads(f or "{}").get("weights") or "" for f in cells.fingerprints], cells.index
    )
    codec = ["benchmark", "family", "label", "quality"]
    latest = weights.groupby([cells[c] for c in codec], dropna=False).transform("last")
    return cells[weights == latest]


def load_means(store: ResultStore) -> tuple[pd.DataFrame, dict[str, bool], dict[str, dict]]:
    """Per-cell means (wide, one column per metric), metric directions, benchmark configs."""
    cells = current_cells(store)
    scores = store.frame("scores")
    if cells.empty or scores.empty:
        raise LicbenchError(f"{store.url}: holds no finished cells; run `licbench run` first")
    df = scores.merge(cells[["key", *GROUP, "learned"]], left_on="cell_key", right_on="key")
    means = df.pivot_table(
        index=[*GROUP, "learned"], columns="metric", values="value", aggfunc="mean"
    ).reset_index()
    n = df.groupby(GROUP)["image"].nunique().rename("images").reset_index()
    means = means.merge(n, on=GROUP)
    metrics = store.frame("metrics")
    directions = dict(zip(metrics.name, metrics.higher_is_better.astype(bool), strict=True))
    configs = {b: m.get("leaderboard", {}) for b, m in manifests(store).items()}
    return means, directions, configs


def slug(name: str) -> str:
    """``name`` as a file name (labels may hold "/")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def manifests(store: ResultStore) -> dict[str, dict[str, Any]]:
    """The manifest of each benchmark's newest run."""
    runs = store.frame("runs").sort_values("id")
    return {r.benchmark: json.loads(r.manifest) for r in runs.itertuples() if r.manifest}


def _short(names: list[str], width: int = 48) -> str:
    text = ", ".join(names) or "-"
    return (
        text if len(text) <= width else f"{text[: width - 12].rsplit(', ', 1)[0]}, … ({len(names)})"
    )


def index(means: pd.DataFrame, store: ResultStore) -> pd.DataFrame:
    """One line per benchmark: what it holds and what to pass to see it."""
    found = manifests(store)
    rows = []
    for bench, part in means.groupby("benchmark"):
        tms = [t["name"] for t in found.get(bench, {}).get("threat_models", [])]
        rows.append(
            {
                "benchmark": bench,
                "datasets": ", ".join(sorted(set(part.dataset))),
                "codecs": part.label.nunique(),
                "rows": len(part),
                "attacks": _short(sorted(set(part.attack) - {"none"})),
                "defenses": part.defense.nunique() - ("none" in set(part.defense)),
                "threat models": ", ".join(tms) or "-",
            }
        )
    return pd.DataFrame(rows)


def family_tables(
    means: pd.DataFrame,
    directions: dict[str, bool],
    configs: dict[str, dict],
    rank_by: str | None = None,
) -> dict[str, pd.DataFrame]:
    """``{"benchmark / dataset / family": ranked table}``."""
    out = {}
    metric_cols = [c for c in means.columns if c in directions]
    for (bench, ds, fam), part in means.groupby(["benchmark", "dataset", "family"], sort=True):
        key = rank_by or configs.get(bench, {}).get("rank_by", "psnr")
        key = key if key in part else metric_cols[0]
        cols = [
            "label",
            "quality",
            "attack",
            "defense",
            "images",
            *[c for c in metric_cols if part[c].notna().any()],
        ]
        table = part[cols].sort_values(key, ascending=not directions.get(key, True))
        table.insert(0, "rank", range(1, len(table) + 1))
        out[f"{bench} / {ds} / {fam}"] = table.reset_index(drop=True)
    return out


def bd_summary(means: pd.DataFrame, configs: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Per benchmark and dataset: BD-rate and BD-PSNR of every clean codec vs the anchor."""
    out: dict[str, pd.DataFrame] = {}
    clean = means[(means.attack == "none") & (means.defense == "none")]
    if "bpp" not in clean or "psnr" not in clean:
        return out
    for (bench, ds), part in clean.groupby(["benchmark", "dataset"]):
        anchor = configs.get(bench, {}).get("anchor", "jpeg")
        ref = part[part.label == anchor]
        if anchor is None or len(ref) < 2:
            continue
        rows = []
        for label, cur in part.groupby("label"):
            rows.append(
                {
                    "label": label,
                    "points": len(cur),
                    "bd-rate %": bd_rate(ref.bpp, ref.psnr, cur.bpp, cur.psnr),
                    "bd-psnr dB": bd_psnr(ref.bpp, ref.psnr, cur.bpp, cur.psnr),
                }
            )
        table = pd.DataFrame(rows).sort_values("bd-rate %", na_position="last")
        table.insert(0, "rank", range(1, len(table) + 1))
        out[f"{bench} / {ds} / BD vs {anchor}"] = table.reset_index(drop=True)
    return out


def _headers(table: pd.DataFrame, directions: dict[str, bool]) -> list[str]:
    arrow = {True: " ↑", False: " ↓"}
    return [c + arrow[directions[c]] if c in directions else c for c in table.columns]


def render(tables: dict[str, pd.DataFrame], directions: dict[str, bool], fmt: str) -> str:
    """Tables as Markdown, CSV, JSON or HTML."""
    if fmt in ("md", "html"):
        tables = {
            k: t.assign(quality=t.quality.map("{:g}".format)) if "quality" in t else t
            for k, t in tables.items()
        }
    if fmt == "md":
        return "\n\n".join(
            f"### {title}\n\n"
            + tabulate(
                t,
                headers=_headers(t, directions),
                tablefmt="github",
                showindex=False,
                floatfmt=".4f",
            )
            for title, t in tables.items()
        )
    if fmt == "csv":
        return pd.concat([t.assign(table=title) for title, t in tables.items()]).to_csv(index=False)
    if fmt == "json":
        return json.dumps(
            {title: json.loads(t.to_json(orient="records")) for title, t in tables.items()},
            indent=2,
        )
    if fmt == "html":
        return "\n".join(
            f"<h3>{title}</h3>\n" + t.to_html(index=False, float_format="%.4f")
            for title, t in tables.items()
        )
    raise LicbenchError(f"unknown format '{fmt}'; use md, csv, json or html")


def rd_plot(
    means: pd.DataFrame,
    out_dir: Path,
    fmt: str = "png",
    published: Path | None = None,
) -> list[Path]:
    """One plot per benchmark and dataset: PSNR against real bpp, one curve per codec,
    attack and defense (clean codecs solid, attacked or defended ones dotted), every series
    in its own colour and marker; on Kodak, each architecture's published curve from the
    ``published`` folder, dashed and labelled as published numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    if "bpp" not in means or "psnr" not in means:
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    for (bench, ds), part in means.groupby(["benchmark", "dataset"]):
        series = list(part.groupby(["label", "attack", "defense"]))
        colours = plt.get_cmap("tab20" if len(series) <= 20 else "turbo")
        fig, ax = plt.subplots(figsize=(7.5, 5.5))
        for i, ((label, attack, defense), cur) in enumerate(series):
            cur = cur.dropna(subset=["bpp", "psnr"]).sort_values("bpp")
            clean = attack == "none" and defense == "none"
            name = " · ".join([label] + [p for p in (attack, defense) if p != "none"])
            colour = colours(i / max(len(series) - 1, 1) if len(series) > 20 else i)
            ax.plot(cur.bpp, cur.psnr, "-" if clean else ":", marker=MARKERS[i % len(MARKERS)],
                    color=colour, label=name, markersize=4)  # fmt: skip
        limits = ax.get_xlim(), ax.get_ylim()  # a published curve must not rescale the plot
        if ds == "kodak":
            for label in sorted({str(x) for x in part.label}):
                ref = for_codec(published, label)
                if ref is not None:
                    ax.plot(ref.bpp, ref.psnr, "--", color="0.35", linewidth=1,
                            label=f"{ref.name[0]} (published, Kodak full size)")  # fmt: skip
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
        ax.set(xlabel="bits per pixel (real bitstream)", ylabel="PSNR (dB, RGB)",
               title=f"{bench}: {ds}")  # fmt: skip
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best", ncol=2 if len(series) > 12 else 1)
        fig.tight_layout()
        path = out_dir / f"rd-{slug(f'{bench}-{ds}')}.{fmt}"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


MARKERS = "os^vD<>pP*Xhd"
