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
- **over seeds**: for an attack run with several seeds (labels ``NAME#sN``), the minimum,
  median and maximum of that measure over its seeds;
- **robust BD-rate %**: the attacked curve (worst rate, worst PSNR per quality) against the
  bare codec's clean curve.

Rate × clean, Δ PSNR and robust BD-rate carry 95 % bootstrap intervals over images
(``lo``/``hi`` columns; :mod:`licbench.leaderboard.spread`), and every row says over how many
images it was measured. Defenses are ranked by robust BD-rate where the curves allow it,
else by the goal's own measure; the caption of the table says which.

A row a measure cannot be computed for says why (``note``) and ranks below every row that
has it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from licbench.bjontegaard import bd_rate
from licbench.labels import unseeded
from licbench.leaderboard.spread import boot_weights, interval

GOALS = {"rate": "bpp", "distortion": "psnr"}
LOWER_IS_WORSE = {"psnr": True, "ms-ssim": True, "bpp": False}


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


Pair = tuple[pd.DataFrame, pd.DataFrame]  # per quality: worst and clean, on shared images
MEASURES = ("rate × clean", "Δ PSNR dB", "robust BD-rate %")


def _pairs(
    clean: pd.DataFrame, hit: pd.DataFrame, metrics: list[str], goal: str, lower: dict[str, bool]
) -> tuple[dict[float, Pair], Counter[str]]:
    """Per quality, the per-image worst over attacks beside the clean cells of the same
    images; who was worst for the goal."""
    pairs, who = {}, Counter[str]()
    for q, attacked in hit.groupby("quality"):
        base = clean[clean.quality == q].set_index("image")
        worst, by = _worst(attacked, metrics, goal, lower)
        images = worst.index.intersection(base.index)  # the same images on both sides
        if images.empty:
            continue
        pairs[float(q)] = (worst.loc[images], base.loc[images])
        who.update(by)
    return pairs, who


Arrays = dict[str, np.ndarray]


def _arrays(frame: pd.DataFrame, pos: dict[str, int], cols: tuple[str, ...]) -> Arrays:
    """Columns of a per-image frame as arrays, with each image's position in ``pos``."""
    out = {c: _value(frame, c).to_numpy(float) for c in cols}
    out["at"] = np.array([pos.get(str(i), -1) for i in frame.index])
    return out


Prepared = tuple[dict[float, tuple[Arrays, Arrays]], dict[float, Arrays]]


def _prepare(pairs: dict[float, Pair], bare: pd.DataFrame, names: list[str]) -> Prepared:
    """Per quality, the worst and clean rows as arrays, and the bare codec's clean curve."""
    pos = {n: i for i, n in enumerate(names)}
    cols = ("bpp", "psnr", "ms-ssim")
    per_q = {q: (_arrays(w, pos, cols), _arrays(b, pos, cols)) for q, (w, b) in pairs.items()}
    curve = {}
    for q, part in bare.groupby("quality"):
        part = part.set_index("image")
        curve[float(q)] = _arrays(part, pos, ("bpp", "psnr"))
    return per_q, curve


def _mean(a: Arrays, col: str, w: np.ndarray | None) -> float:
    x = a[col]
    if w is None:
        return float(np.mean(x)) if len(x) else float("nan")
    k = np.where(a["at"] >= 0, w[np.maximum(a["at"], 0)], 0.0)
    return float((x * k).sum() / k.sum()) if k.sum() else float("nan")


def _measures(prepared: Prepared, w: np.ndarray | None) -> dict[str, float]:
    """Rate × clean, Δ PSNR, Δ MS-SSIM (means over qualities) and the robust BD-rate, with
    each image weighted by ``w`` (None: all 1, every bare image counted)."""
    per_q, bare = prepared
    rows, robust_curve = [], {}
    for q, (worst, base) in per_q.items():
        rows.append(
            (
                _mean(worst, "bpp", w) / _mean(base, "bpp", w),
                _mean(worst, "psnr", w) - _mean(base, "psnr", w),
                _mean(worst, "ms-ssim", w) - _mean(base, "ms-ssim", w),
            )
        )
        robust_curve[q] = (_mean(worst, "bpp", w), _mean(worst, "psnr", w))
    bare_curve = {q: (_mean(a, "bpp", w), _mean(a, "psnr", w)) for q, a in bare.items()}
    cols = ["bpp", "psnr"]
    ref = pd.DataFrame.from_dict(bare_curve, orient="index", columns=cols).sort_index()
    cur = pd.DataFrame.from_dict(robust_curve, orient="index", columns=cols).sort_index()
    with warnings.catch_warnings():  # a measure no quality has stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(np.array(rows, float), axis=0) if rows else [np.nan] * 3
    return {
        "rate × clean": float(means[0]),
        "Δ PSNR dB": float(means[1]),
        "Δ MS-SSIM": float(means[2]),
        "robust BD-rate %": _bd(ref.dropna(), cur.dropna()),
    }


def _row(
    cur: pd.DataFrame,
    bare: pd.DataFrame,
    attacks: set[str],
    goal: str,
    lower_is_worse: dict[str, bool],
) -> dict[str, Any]:
    """The measures of one defense on one codec under one threat model, with intervals."""
    clean = cur[cur.attack == "none"]
    hit = cur[cur.attack.isin(attacks)]
    metrics = [m for m in dict.fromkeys(("bpp", "psnr", "ms-ssim", goal)) if m in cur]
    out: dict[str, Any] = {"clean BD-rate %": _bd(_curve(bare), _curve(clean))}
    pairs, who = _pairs(clean, hit, metrics, goal, lower_is_worse)
    names = sorted({str(i) for worst, _ in pairs.values() for i in worst.index})
    out["images"] = len(names)
    if pairs:
        prepared = _prepare(pairs, bare, names)
        out.update(_measures(prepared, None))
        draws = [_measures(prepared, w) for w in boot_weights(len(names))]
        for k in MEASURES:
            out[f"{k} lo"], out[f"{k} hi"] = interval([d[k] for d in draws])
    out["worst attack"] = who.most_common(1)[0][0] if who else ""
    out["wins"] = ", ".join(f"{a} {n}" for a, n in who.most_common())
    out["by attack"] = _by_attack(clean, hit, goal)
    out["over seeds"] = over_seeds(attack_measures(clean, hit, goal), goal)
    out["note"] = _note(clean, hit, list(pairs), len(pairs), out)
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


def over_seeds(found: dict[str, float], goal: str) -> str:
    """``ATTACK min / median / max (N seeds)`` for each attack with several seeded runs."""
    runs: dict[str, list[float]] = {}
    for label, value in found.items():
        runs.setdefault(unseeded(label), []).append(value)
    spec = ".3f" if goal == "bpp" else "+.2f"
    return ", ".join(
        f"{a} {min(v):{spec}} / {float(np.median(v)):{spec}} / {max(v):{spec}} ({len(v)} seeds)"
        for a, v in runs.items()
        if len(v) > 1
    )


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


def rank_key(table: pd.DataFrame, goal: str) -> str:
    """What a threat table ranks by: the robust BD-rate where any row has one (it counts
    the clean cost and the attack), else the goal's own measure."""
    if "robust BD-rate %" in table and table["robust BD-rate %"].notna().any():
        return "robust BD-rate %"
    return "rate × clean" if goal == "bpp" else "Δ PSNR dB"


def threat_table(
    group: pd.DataFrame, tm: dict[str, Any], directions: dict[str, bool]
) -> pd.DataFrame:
    """The ranked table of one codec (``group``: its per-image rows) under ``tm``; the
    column it ranks by is in ``table.attrs["rank_by"]``."""
    goal = GOALS.get(tm.get("goal", "rate"), tm.get("goal", "rate"))
    lower_is_worse = {goal: directions.get(goal, True), **LOWER_IS_WORSE}
    attacks = set(tm["attacks"])
    bare = group[(group.defense == "none") & (group.attack == "none")]
    rows = []
    for defense, cur in group.groupby("defense"):
        rows.append({"defense": defense, **_row(cur, bare, attacks, goal, lower_is_worse)})
    table = pd.DataFrame(rows)
    key = rank_key(table, goal)
    if key not in table:
        table[key] = np.nan
    goal_key = "rate × clean" if goal == "bpp" else "Δ PSNR dB"
    if goal_key not in table:
        table[goal_key] = np.nan
    keys = list(dict.fromkeys([key, goal_key]))  # unranked rows in the goal's own order
    up = [k != "Δ PSNR dB" for k in keys]  # less rate, less BD-rate, a smaller PSNR drop
    table = table.sort_values(keys, ascending=up, na_position="last")
    ranked = table[key].notna()
    table.insert(0, "rank", [str(i + 1) if r else "-" for i, r in enumerate(ranked)])
    table = table.reset_index(drop=True)
    table.attrs["rank_by"] = key
    return table


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
