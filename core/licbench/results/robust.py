"""Robustness tables: a threat model's worst case over attacks, relative to clean.

For a threat model (a goal, a budget, the attacks that count) and one codec, a row per
defense (``none`` is the bare codec):

- **clean BD-rate %**: the defense's clean curve against the bare codec's clean curve, the
  rate it costs when nobody attacks;
- **rate × clean**, **Δ PSNR**, **Δ MS-SSIM**: per image, the worst over the threat
  model's attacks (the highest rate, the lowest PSNR and MS-SSIM; a randomized defense's
  worst draw), averaged over images, against the same codec, quality and defense on the
  same images without attack; then averaged over qualities;
- **worst attack**: the attack that most often achieved the worst case of the goal, and
  **wins**: how many images each attack was the worst on (summed over qualities);
- **by attack**: each attack's own rate × clean (or Δ PSNR, for a distortion goal);
- **robust BD-rate %**: the attacked curve (worst rate, worst PSNR per quality) against the
  bare codec's clean curve.

A row a measure cannot be computed for says why (``note``) and ranks below every row that
has it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from licbench.bench.store import ResultStore
from licbench.bjontegaard import bd_rate

GOALS = {"rate": "bpp", "distortion": "psnr"}
LOWER_IS_WORSE = {"psnr": True, "ms-ssim": True, "bpp": False}


def per_image(store: ResultStore, cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, image) with a column per metric, for the given current cells."""
    from licbench.results.tables import GROUP

    scores = store.frame("scores")
    df = scores.merge(cells[["key", *GROUP]], left_on="cell_key", right_on="key")
    return df.pivot_table(
        index=[*GROUP, "image"], columns="metric", values="value", aggfunc="first"
    ).reset_index()


def _value(frame: pd.DataFrame, metric: str) -> pd.Series:
    """A metric's column; a randomized defense's worst draw where it has one."""
    if metric not in frame:
        return pd.Series(np.nan, index=frame.index)
    worst = f"{metric}@worst"
    return frame[worst].fillna(frame[metric]) if worst in frame else frame[metric]


def _curve(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean bpp and PSNR per quality."""
    return frame.groupby("quality")[["bpp", "psnr"]].mean().sort_index()


def _bd(ref: pd.DataFrame, cur: pd.DataFrame) -> float:
    if len(ref) < 2 or len(cur) < 2:
        return float("nan")
    return bd_rate(ref.bpp, ref.psnr, cur.bpp, cur.psnr)


def _worst(
    hit: pd.DataFrame, metrics: list[str], goal: str, lower_is_worse: dict[str, bool]
) -> tuple[pd.DataFrame, Counter[str]]:
    """Per image, the worst value of each metric over attacks; who was worst for ``goal``."""
    rows, who = {}, Counter[str]()
    for image, part in hit.groupby("image"):
        row = {}
        for m in metrics:
            values = _value(part, m)
            if values.notna().any():
                at = values.idxmin() if lower_is_worse.get(m, False) else values.idxmax()
                row[m] = values[at]
                if m == goal:
                    who[str(part.attack[at])] += 1
        rows[image] = row
    return pd.DataFrame.from_dict(rows, orient="index"), who


def _row(
    cur: pd.DataFrame,
    bare: pd.DataFrame,
    attacks: set[str],
    goal: str,
    lower_is_worse: dict[str, bool],
) -> dict[str, Any]:
    """The measures of one defense on one codec under one threat model."""
    clean = cur[cur.attack == "none"]
    hit = cur[cur.attack.isin(attacks)]
    metrics = [m for m in dict.fromkeys(("bpp", "psnr", "ms-ssim", goal)) if m in cur]
    out: dict[str, Any] = {"clean BD-rate %": _bd(_curve(bare), _curve(clean))}
    per_q, robust_curve, who = [], {}, Counter[str]()
    for q, attacked in hit.groupby("quality"):
        base = clean[clean.quality == q].set_index("image")
        worst, by = _worst(attacked, metrics, goal, lower_is_worse)
        images = worst.index.intersection(base.index)  # the same images on both sides
        if images.empty:
            continue
        worst, base = worst.loc[images], base.loc[images]
        who.update(by)
        per_q.append(
            {
                "rate × clean": worst.bpp.mean() / _value(base, "bpp").mean(),
                "Δ PSNR dB": worst.psnr.mean() - _value(base, "psnr").mean(),
                "Δ MS-SSIM": (worst["ms-ssim"].mean() - _value(base, "ms-ssim").mean())
                if "ms-ssim" in worst
                else np.nan,
            }
        )
        robust_curve[q] = (worst.bpp.mean(), worst.psnr.mean())
    out.update(pd.DataFrame(per_q).mean().to_dict() if per_q else {})
    curve = pd.DataFrame.from_dict(robust_curve, orient="index", columns=["bpp", "psnr"])
    out["robust BD-rate %"] = _bd(_curve(bare), curve.sort_index())
    out["worst attack"] = who.most_common(1)[0][0] if who else ""
    out["wins"] = ", ".join(f"{a} {n}" for a, n in who.most_common())
    out["by attack"] = _by_attack(clean, hit, goal)
    out["note"] = _note(clean, hit, per_q, len(curve), out)
    return out


def attack_measures(clean: pd.DataFrame, hit: pd.DataFrame, goal: str) -> dict[str, float]:
    """Per attack, its mean rate × clean (goal ``bpp``) or Δ PSNR dB (otherwise) against the
    clean cells on the same images, averaged over qualities (a randomized defense's worst draw)."""
    metric = "bpp" if goal == "bpp" else "psnr"
    out = {}
    for attack, cells in hit.groupby("attack"):
        per_q = []
        for q, at in cells.groupby("quality"):
            base = clean[clean.quality == q].set_index("image")
            at = at.set_index("image")
            images = at.index.intersection(base.index)
            if images.empty:
                continue
            a, b = _value(at.loc[images], metric).mean(), _value(base.loc[images], metric).mean()
            per_q.append(a / b if metric == "bpp" else a - b)
        if per_q:
            out[str(attack)] = float(np.mean(per_q))
    return out


def _by_attack(clean: pd.DataFrame, hit: pd.DataFrame, goal: str) -> str:
    found = attack_measures(clean, hit, goal)
    order = sorted(found, key=found.__getitem__, reverse=goal == "bpp")
    unit = "" if goal == "bpp" else " dB"
    return ", ".join(f"{a} {found[a]:{'.3f' if goal == 'bpp' else '+.2f'}}{unit}" for a in order)


def _note(
    clean: pd.DataFrame, hit: pd.DataFrame, per_q: list[Any], points: int, row: dict[str, Any]
) -> str:
    """Why a measure of the row is missing (empty: none is)."""
    if clean.empty:
        return "no clean cells to compare with"
    if hit.empty:
        return "no cells of this threat model's attacks"
    if not per_q:
        return "attacked and clean cells share no image"
    if points < 2 or clean.quality.nunique() < 2:
        return "one quality: no BD-rate"
    gaps = [k for k in ("clean BD-rate %", "robust BD-rate %") if pd.isna(row.get(k))]
    if gaps:
        return f"{' and '.join(gaps)}: the curves share no PSNR range"
    return ""


def threat_table(
    group: pd.DataFrame, tm: dict[str, Any], directions: dict[str, bool]
) -> pd.DataFrame:
    """The ranked table of one codec (``group``: its per-image rows) under ``tm``."""
    goal = GOALS.get(tm.get("goal", "rate"), tm.get("goal", "rate"))
    lower_is_worse = {goal: directions.get(goal, True), **LOWER_IS_WORSE}
    attacks = set(tm["attacks"])
    bare = group[(group.defense == "none") & (group.attack == "none")]
    rows = []
    for defense, cur in group.groupby("defense"):
        rows.append({"defense": defense, **_row(cur, bare, attacks, goal, lower_is_worse)})
    table = pd.DataFrame(rows)
    key = "rate × clean" if goal == "bpp" else "Δ PSNR dB"
    if key not in table:
        table[key] = np.nan
    table = table.sort_values(key, ascending=goal == "bpp", na_position="last")
    ranked = table[key].notna()
    table.insert(0, "rank", [str(i + 1) if r else "-" for i, r in enumerate(ranked)])
    return table.reset_index(drop=True)


def robust_tables(
    wide: pd.DataFrame, threat_models: dict[str, list[dict[str, Any]]], directions: dict[str, bool]
) -> dict[str, pd.DataFrame]:
    """``{"benchmark / dataset / codec / threat model T": table}``."""
    out = {}
    for bench, models in threat_models.items():
        part = wide[wide.benchmark == bench]
        for tm in models:
            for (ds, label), group in part.groupby(["dataset", "label"]):
                budget = ", ".join(f"{k} {v}" for k, v in tm.get("budget", {}).items())
                title = f"{bench} / {ds} / {label} / threat model {tm['name']}"
                out[title + (f" ({budget})" if budget else "")] = threat_table(
                    group, tm, directions
                )
    return out
