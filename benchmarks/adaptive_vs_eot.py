"""Per defense, attack and quality: rate × clean (mean attacked bpp over mean clean bpp of the
same defense on the same images) with its 95 % bootstrap interval over images, from the
stored cells of `benchmarks/adversarial/adaptive.yaml`; then each defense's threat-model row
before (the worst of the transferred PGD and EoT) and after (the adaptive attack counted too).

    licbench run benchmarks/adversarial/adaptive.yaml --db results.db
    python benchmarks/adaptive_vs_eot.py [--db results.db] [--benchmark adv-adaptive]
"""

from __future__ import annotations

import argparse

import numpy as np
from tabulate import tabulate

import licbench
from licbench.leaderboard.robust import threat_table
from licbench.leaderboard.spread import boot_weights, interval

BEFORE, AFTER = ["pgd", "eot"], ["pgd", "eot", "kway-adaptive"]
SHOWN = ["rate × clean", "Δ PSNR dB", "robust BD-rate %"]


def ratio_with_interval(attacked: np.ndarray, clean: np.ndarray) -> tuple[float, float, float]:
    """mean(attacked) / mean(clean), paired images resampled together."""
    w = boot_weights(len(clean))
    draws = (w @ attacked) / (w @ clean)
    lo, hi = interval(list(draws))
    return float(attacked.mean() / clean.mean()), lo, hi


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db")
    p.add_argument("--benchmark", default="adv-adaptive")
    args = p.parse_args()
    results = licbench.results(args.db)
    wide = results.wide[results.wide.benchmark == results.check(args.benchmark)]
    rows = []
    for (label, defense, q), part in wide.groupby(["label", "defense", "quality"]):
        bpp = part.pivot_table(index="image", columns="attack", values="bpp")
        clean = bpp.pop("none").to_numpy()
        for attack in sorted(bpp.columns):
            r, lo, hi = ratio_with_interval(bpp[attack].to_numpy(), clean)
            rows.append({"codec": label, "defense": defense, "quality": f"{q:g}",
                         "attack": attack, "rate × clean": f"{r:.3f} [{lo:.3f}, {hi:.3f}]",
                         "images": len(clean)})  # fmt: skip
    print(tabulate(rows, headers="keys", tablefmt="github"))
    print()
    table = []
    counted = (("non-adaptive (pgd, eot)", BEFORE), ("adaptive (+ kway-adaptive)", AFTER))
    for name, attacks in counted:
        tm = {"name": name, "goal": "rate", "attacks": attacks}
        for label, group in wide.groupby("label"):
            found = threat_table(group, tm, {"bpp": False, "psnr": True})
            for _, r in found[found.defense != "none"].iterrows():
                cells = {k: f"{r[k]:.2f} [{r[f'{k} lo']:.2f}, {r[f'{k} hi']:.2f}]" for k in SHOWN}
                table.append({"codec": label, "defense": r.defense, "counted": name, **cells})
    print(tabulate(table, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
