"""The leaderboard's backdoor table: what a backdoor does to its own codec, relative to clean.

A backdoor attack's cells are labelled ``NAME/clean`` (the backdoored codec on clean input)
and ``NAME/OTHER`` (a trigger applied); the ``attack: none`` cell is the vanilla codec. Per
quality and triggered cell, on undefended cells:

- **poisoned bpp**, **× clean** (against ``NAME/clean``, else the vanilla codec) and its
  spread over images, **poisoned PSNR**;
- **trigger PSNR**: the poisoned input against the clean image (mean and minimum), how
  stealthy the trigger is;
- **clean bpp Δ**, **clean PSNR Δ**: the backdoored codec on clean input against the
  vanilla codec, what the backdoor costs everyone else;
- where the benchmark scores them, **ASR** (``seg-asr``) and face similarity beside the
  clean one (``face-similarity``), face verification accuracy beside clean (``face-accuracy``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

EXTRA = ("seg-asr", "face-similarity", "face-accuracy")


def _is_backdoor(attacks: set[str]) -> set[str]:
    """Triggered labels of attacks that have a ``NAME/clean`` twin or a ``/`` label."""
    return {a for a in attacks if "/" in a and not a.endswith("/clean")}


def backdoor_rows(at: pd.DataFrame, q: float) -> list[dict[str, Any]]:
    """Rows for one quality; ``at``: per-image scores indexed by (attack, image)."""
    attacks = set(at.index.get_level_values("attack"))
    vanilla = at.xs("none", level="attack") if "none" in attacks else None
    rows = []
    for attack in sorted(_is_backdoor(attacks)):
        own = attack.split("/")[0] + "/clean"
        clean = at.xs(own, level="attack") if own in attacks else None
        p = at.xs(attack, level="attack")
        base = clean if clean is not None else vanilla
        row: dict[str, Any] = {"quality": q, "backdoor": attack, "poisoned bpp": p.bpp.mean()}
        if base is not None:
            ratio = p.bpp / base.bpp.reindex(p.index)
            row["× clean"] = p.bpp.mean() / base.bpp.mean()
            row["× per image (min–max)"] = f"{ratio.min():.2f}–{ratio.max():.2f}"
        row["poisoned PSNR"] = p.psnr.mean()
        if "input-psnr" in p:
            trig = p["input-psnr"]
            row["trigger PSNR mean (min)"] = f"{trig.mean():.2f} ({trig.min():.2f})"
        if clean is not None and vanilla is not None:
            dr = clean.bpp.mean() / vanilla.bpp.mean() - 1
            row["clean bpp Δ"] = f"{100 * dr:+.1f} %"
            row["clean PSNR Δ"] = f"{clean.psnr.mean() - vanilla.psnr.mean():+.2f} dB"
        for m in EXTRA:
            if m in p and p[m].notna().any():
                row[m] = p[m].mean()
                if clean is not None and m in clean:
                    row[f"{m} (clean)"] = clean[m].mean()
        rows.append(row)
    return rows


def backdoor_tables(wide: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"benchmark / dataset / codec / backdoors": table}`` for benchmarks with backdoors."""
    out = {}
    plain = wide[wide.defense == "none"]
    for (bench, ds, label), part in plain.groupby(["benchmark", "dataset", "label"]):
        if not _is_backdoor(set(part.attack)):
            continue
        rows = []
        for q, at in part.groupby("quality"):
            rows += backdoor_rows(at.set_index(["attack", "image"]), float(q))
        out[f"{bench} / {ds} / {label} / backdoors"] = pd.DataFrame(rows)
    return out
