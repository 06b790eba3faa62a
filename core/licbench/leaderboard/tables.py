"""The tables of one benchmark, each with the caption that says what it ranks or shows.

- **threat models**: per codec, defenses ranked under the threat model
  (:mod:`licbench.leaderboard.robust`);
- **audit verdicts**: per codec and defense, each check of ``licbench audit``;
- **backdoors**: what each backdoor does to its own codec (:mod:`licbench.leaderboard.backdoor`);
- **BD-rate** of every clean codec against the benchmark's anchor;
- **per-codec details**: the mean of each metric over images, grouped by quality, the
  clean row first; attacked and clean rows are never ranked against each other.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from licbench.bjontegaard import bd_psnr, bd_rate
from licbench.leaderboard import backdoor, robust
from licbench.leaderboard.audit import audit_table
from licbench.leaderboard.view import Table

CORE_METRICS = ("bpp", "psnr", "ms-ssim")  # shown without --wide, beside the rank metric


def slug(name: str) -> str:
    """``name`` as a file name (labels may hold "/")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _images(frame: pd.DataFrame) -> str:
    n = sorted({int(v) for v in frame["images"].dropna()}) if "images" in frame else []
    return "" if not n else f"{n[0]} images" if len(n) == 1 else f"{n[0]}–{n[-1]} images"


def threat_tables(
    bench: str, wide: pd.DataFrame, models: list[dict[str, Any]], directions: dict[str, bool]
) -> dict[str, Table]:
    """Per threat model, dataset and codec: the defenses ranked under it."""
    out = {}
    for tm in models:
        budget = ", ".join(f"{k} {v}" for k, v in tm.get("budget", {}).items())
        for (ds, label), group in wide.groupby(["dataset", "label"]):
            table = robust.threat_table(group, tm, directions)
            key = table.attrs["rank_by"]
            how = "lowest first" if key != "Δ PSNR dB" else "smallest drop first"
            caption = (
                f"Defenses ranked by {key} ({how}), the per-image worst case over the threat "
                f"model's attacks ({', '.join(tm['attacks'])}), mean over {_images(table)} "
                "and the qualities; ± is the 95 % bootstrap interval over images."
            )
            title = f"{bench} / {ds} / {label} / threat model {tm['name']}"
            out[title + (f" ({budget})" if budget else "")] = Table(table, caption)
    return out


def audit_verdicts(
    bench: str, wide: pd.DataFrame, models: list[dict[str, Any]]
) -> dict[str, Table]:
    """The checklist verdicts of an audit benchmark, per dataset and codec."""
    tm = next((t for t in models if t.get("name") == "budget"), None)
    out: dict[str, Table] = {}
    if tm is None:
        return out
    for (ds, label), group in wide.groupby(["dataset", "label"]):
        caption = (
            "Gradient-masking checklist (Carlini et al. 2019) per defense: FAIL marks a "
            f"check the attack failed, n/a one that does not apply; {tm['goal']} goal, "
            f"ε {tm['budget'].get('eps')}, {group.image.nunique()} images."
        )
        frame = audit_table(group, tm)
        out[f"{bench} / {ds} / {label} / audit"] = Table(frame, caption, "verdicts")
    return out


def backdoor_tables(bench: str, wide: pd.DataFrame, cells: pd.DataFrame) -> dict[str, Table]:
    """Per dataset and codec with backdoor cells: each triggered backdoor against clean."""
    out = {}
    for (ds, label), frame in backdoor.backdoor_tables(wide, cells).items():
        caption = (
            "Per backdoor and quality: the triggered input on the backdoored codec against "
            "the same codec on clean input (× clean), and what the backdoor costs clean "
            f"input against the vanilla codec; not a ranking; {wide.image.nunique()} images."
        )
        out[f"{bench} / {ds} / {label} / backdoors"] = Table(frame, caption, "summary")
    return out


def bd_summary(
    bench: str,
    means: pd.DataFrame,
    settings: dict[str, Any],
    published: dict[str, dict[str, pd.DataFrame]] | None = None,
) -> dict[str, Table]:
    """Per dataset: BD-rate and BD-PSNR of every clean codec against the anchor, and of the
    ``published`` curves given for that dataset (``{dataset: {name: curve}}``), marked as
    such."""
    out: dict[str, Table] = {}
    clean = means[(means.attack == "none") & (means.defense == "none")]
    anchor = settings.get("anchor")
    if "bpp" not in clean or "psnr" not in clean or anchor is None:
        return out
    for ds, part in clean.groupby("dataset"):
        ref = part[part.label == anchor]
        if len(ref) < 2:
            continue
        rows = [
            {
                "label": label,
                "points": len(cur),
                "images": int(cur.images.max()),
                "bd-rate %": bd_rate(ref.bpp, ref.psnr, cur.bpp, cur.psnr),
                "bd-psnr dB": bd_psnr(ref.bpp, ref.psnr, cur.bpp, cur.psnr),
            }
            for label, cur in part.groupby("label")
        ]
        for name, cur in (published or {}).get(str(ds), {}).items():
            rows.append({"label": f"{name} (published)", "points": len(cur), "images": 24,
                         "bd-rate %": bd_rate(ref.bpp, ref.psnr, cur.bpp, cur.psnr),
                         "bd-psnr dB": bd_psnr(ref.bpp, ref.psnr, cur.bpp, cur.psnr)})  # fmt: skip
        table = pd.DataFrame(rows).sort_values("bd-rate %", na_position="last")
        table.insert(0, "rank", range(1, len(table) + 1))
        caption = (
            f"Clean codecs ranked by BD-rate against {anchor} (lowest first: the rate saved "
            f"at equal PSNR), on {_images(table)}."
        )
        if (published or {}).get(str(ds)):
            caption += " Rows marked (published) are the curves their papers report on Kodak."
        out[f"{bench} / {ds} / BD vs {anchor}"] = Table(table.reset_index(drop=True), caption)
    return out


def family_tables(
    bench: str, means: pd.DataFrame, directions: dict[str, bool], rank_by: str | None = None
) -> dict[str, Table]:
    """Per dataset and codec family: every row's means, grouped by quality, clean first."""
    out = {}
    metric_cols = [c for c in means.columns if c in directions]
    for (ds, fam), part in means.groupby(["dataset", "family"], sort=True):
        first = [c for c in CORE_METRICS if c in metric_cols]
        ordered = first + sorted(set(metric_cols) - set(first))
        shown = [c for c in ordered if part[c].notna().any()]
        table = part[["quality", "label", "attack", "defense", "images", *shown]].copy()
        table["_order"] = [
            (a != "none") * 2 + (d != "none")
            for a, d in zip(table.attack, table.defense, strict=True)
        ]
        table = table.sort_values(["quality", "_order", "label", "attack", "defense"])
        table = table.drop(columns="_order").reset_index(drop=True)
        table.attrs["core"] = [c for c in shown if c in CORE_METRICS or c == rank_by]
        caption = (
            f"Mean of each metric over {_images(table)}, grouped by quality with the clean "
            "row first; not a ranking (see the tables above)."
        )
        out[f"{bench} / {ds} / {fam}"] = Table(table, caption, "details")
    return out
