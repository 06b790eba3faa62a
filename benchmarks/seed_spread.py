"""How far the seed alone moves each member of the standard set: per codec and quality, the
minimum, median and maximum rate × clean over the seeds of each attack (labels NAME#sN),
and the worst per image over all of them, from the stored cells of
`benchmarks/adversarial/seeds.yaml`.

    licbench run benchmarks/adversarial/seeds.yaml --db results.db
    python benchmarks/seed_spread.py [--db results.db] [--benchmark adv-seeds]
"""

from __future__ import annotations

import argparse

import numpy as np
from tabulate import tabulate

import licbench
from licbench.labels import unseeded


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db")
    p.add_argument("--benchmark", default="adv-seeds")
    args = p.parse_args()
    results = licbench.results(args.db)
    wide = results.wide[results.wide.benchmark == results.check(args.benchmark)]
    wide = wide[wide.defense == "none"]
    rows = []
    for (label, q), part in wide.groupby(["label", "quality"]):
        bpp = part.pivot_table(index="image", columns="attack", values="bpp")
        if "none" not in bpp:
            continue  # no clean cells to compare with
        clean = bpp.pop("none")
        ratio = {a: float(bpp[a].mean() / clean.mean()) for a in bpp.columns}
        for base in sorted({unseeded(a) for a in ratio}):
            seeds = [v for a, v in ratio.items() if unseeded(a) == base]
            rows.append({"codec": label, "quality": f"{q:g}", "attack": base, "seeds": len(seeds),
                         "min": min(seeds), "median": float(np.median(seeds)),
                         "max": max(seeds)})  # fmt: skip
        worst = float(bpp.max(axis=1).mean() / clean.mean())
        rows.append({"codec": label, "quality": f"{q:g}", "attack": "worst per image, all",
                     "seeds": len(bpp.columns), "min": worst, "median": worst,
                     "max": worst})  # fmt: skip
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3f"))


if __name__ == "__main__":
    main()
