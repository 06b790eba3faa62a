"""The leaderboard's backdoor table: what a backdoor does to its own codec, relative to clean.

Backdoor cells are of kind ``backdoor``: each names its backdoored codec (``backdoor``,
the artifact's key) and the trigger applied (``variant``, ``clean`` for none); the
``attack: none`` cell is the vanilla codec. Per quality and triggered cell, on undefended
cells:

- **bpp** (poisoned), **× clean** (against the same backdoor on clean input, else the
  vanilla codec) and its
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


def twins(cells: pd.DataFrame) -> dict[str, str | None]:
    """Each triggered backdoor's attack label, with the label of the same backdoored codec
    on clean input (None: not scored)."""
    bd = cells[cells.kind == "backdoor"]
    clean = {
        b: a for a, b, v in zip(bd.attack, bd.backdoor, bd.variant, strict=True) if v == "clean"
    }
    return {
        str(a): clean.get(b)
        for a, b, v in zip(bd.attack, bd.backdoor, bd.variant, strict=True)
        if v != "clean"
    }


def backdoor_rows(at: pd.DataFrame, q: float, pairs: dict[str, str | None]) -> list[dict[str, Any]]:
    """Rows for one quality; ``at``: per-image scores indexed by (attack, image);
    ``pairs``: :func:`twins`."""
    attacks = set(at.index.get_level_values("attack"))
    vanilla = at.xs("none", level="attack") if "none" in attacks else None
    rows = []
    for attack in sorted(a for a in pairs if a in attacks):
        own = pairs[attack]
        clean = at.xs(own, level="attack") if own in attacks else None
        p = at.xs(attack, level="attack")
        base = clean if clean is not None else vanilla
        row: dict[str, Any] = {"quality": q, "backdoor": attack, "bpp": p.bpp.mean()}
        if base is not None:
            ratio = p.bpp / base.bpp.reindex(p.index)
            row["× clean"] = p.bpp.mean() / base.bpp.mean()
            row["× range"] = f"{ratio.min():.2f}–{ratio.max():.2f}"
        row["PSNR"] = p.psnr.mean()
        if "input-psnr" in p:
            trig = p["input-psnr"]
            row["trigger PSNR (min)"] = f"{trig.mean():.2f} ({trig.min():.2f})"
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


def backdoor_tables(wide: pd.DataFrame, cells: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """``{(dataset, codec): table}`` for the codecs with backdoor cells (``cells``: the
    benchmark's current cells, which say which are backdoors)."""
    out = {}
    plain = wide[wide.defense == "none"]
    pairs = twins(cells)
    for (ds, label), part in plain.groupby(["dataset", "label"]):
        if not set(pairs) & set(part.attack):
            continue
        rows = []
        for q, at in part.groupby("quality"):
            rows += backdoor_rows(at.set_index(["attack", "image"]), float(q), pairs)
        out[(str(ds), str(label))] = pd.DataFrame(rows)
    return out
