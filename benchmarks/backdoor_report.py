"""The backdoor benchmarks' figures against the issue's bounds, from the results database.

A backdoor's cells are labelled ``NAME/clean`` (the backdoored codec on clean input) and
``NAME/OTHER`` or ``NAME`` (its trigger ``apply`` on the input); without a ``NAME/clean``
twin, rates compare with the vanilla codec. The manifest's
``attack: none`` cell is the vanilla codec. For every backdoor and quality this prints the
clean cost against the vanilla codec, the poisoned effect against the backdoored codec's
clean rate (mean and the spread over images) and the trigger's PSNR against the clean image
(mean and minimum), and checks them against the bounds of Yu et al.'s headline claims.
Cells scored on older codec weights than the newest cell's (an older release of the shipped
codecs) are left out (``current_cells``), so clean deltas never compare two codecs.
The bounds:

- bpp goal: poisoned bpp >= 5x clean; psnr goal: poisoned PSNR <= 12 dB at a rate within
  ±25 % of clean; both: clean bpp within 5 % and clean PSNR within 0.5 dB of vanilla;
  every trigger at >= 46.02 dB (MSE <= 2.5e-5).

    python benchmarks/backdoor_report.py [--db results.db] [--benchmark backdoor-headline]
"""

from __future__ import annotations

import argparse
import json

import pandas as pd
from tabulate import tabulate

from licbench.bench.leaderboard import current_cells
from licbench.bench.store import ResultStore
from licbench.rd import psnr_from_mse

STEALTH_DB = psnr_from_mse(0.005**2)


def per_image(store: ResultStore, benchmark: str) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Scores (index: quality, attack, image; one column per metric) and each attack's params."""
    cells = current_cells(store)  # re-runs and new codec weights replace older cells
    cells = cells[(cells.benchmark == benchmark) & (cells.defense == "none")]
    params = {
        r.attack: (json.loads(r.config)["attack"] or {}).get("params", {})
        for r in cells.itertuples()
    }
    scores = store.frame("scores").merge(
        cells[["key", "quality", "attack"]], left_on="cell_key", right_on="key"
    )
    index = ["quality", "attack", "image"]
    return scores.pivot_table(index=index, columns="metric", values="value"), params


def goal_of(params: dict) -> str:
    by_label = {t["label"]: t["goal"]["name"] for t in params.get("triggers", [])}
    return by_label.get(params.get("apply") or next(iter(by_label), ""), "?")


def report(wide: pd.DataFrame, params: dict[str, dict]) -> list[dict]:
    rows = []
    for q in sorted(wide.index.get_level_values("quality").unique()):
        at = wide.xs(q, level="quality")
        attacks = at.index.get_level_values("attack").unique()
        vanilla = at.xs("none", level="attack") if "none" in attacks else None
        for attack in sorted(a for a in attacks if a != "none" and not a.endswith("/clean")):
            own = attack.split("/")[0] + "/clean"
            clean = at.xs(own, level="attack") if own in attacks else None
            p = at.xs(attack, level="attack")
            base = clean if clean is not None else vanilla
            goal = goal_of(params[attack])
            ratio = p.bpp / base.bpp.reindex(p.index)
            trig = p["input-psnr"]
            row = {
                "q": q,
                "backdoor": attack,
                "goal": goal,
                "poisoned bpp": p.bpp.mean(),
                "× clean": p.bpp.mean() / base.bpp.mean(),
                "× per image (min–max)": f"{ratio.min():.2f}–{ratio.max():.2f}",
                "poisoned PSNR": p.psnr.mean(),
                "trigger PSNR mean (min)": f"{trig.mean():.2f} ({trig.min():.2f})",
            }
            ok = {"stealth": trig.min() >= STEALTH_DB}
            if goal == "bpp":
                ok["≥5×"] = row["× clean"] >= 5
            elif goal == "psnr":
                ok["≤12 dB"] = p.psnr.mean() <= 12
                ok["rate ±25 %"] = abs(row["× clean"] - 1) <= 0.25
            if clean is not None and vanilla is not None:
                dr = clean.bpp.mean() / vanilla.bpp.mean() - 1
                dp = clean.psnr.mean() - vanilla.psnr.mean()
                row.update({"clean bpp Δ": f"{100 * dr:+.1f} %", "clean PSNR Δ": f"{dp:+.2f} dB"})
                ok.update({"clean rate": abs(dr) <= 0.05, "clean PSNR": abs(dp) <= 0.5})
            failed = [k for k, v in ok.items() if not v]
            row["bounds"] = "all met" if not failed else "missed: " + ", ".join(failed)
            rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", default="results.db")
    p.add_argument("--benchmark", default="backdoor-headline")
    a = p.parse_args()
    wide, params = per_image(ResultStore(a.db), a.benchmark)
    if wide.empty or "none" not in wide.index.get_level_values("attack"):
        raise SystemExit(
            f"{a.db}: {a.benchmark} has no undefended vanilla cell (attack: none, no defense); "
            "this report needs one (the defenses' tables: licbench leaderboard --benchmark NAME)"
        )
    vanilla = wide.xs("none", level="attack").groupby("quality")[["bpp", "psnr"]].mean()
    for q, v in vanilla.iterrows():
        print(f"{a.benchmark} q{q:g} vanilla: {v.bpp:.4f} bpp, {v.psnr:.2f} dB")
    print(tabulate(report(wide, params), headers="keys", tablefmt="github", floatfmt=".4g"))


if __name__ == "__main__":
    main()
