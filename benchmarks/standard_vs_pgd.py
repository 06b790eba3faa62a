"""Per codec and quality: the standard set's members and its per-image worst against plain
PGD (rate × clean: mean real bpp over the mean clean bpp), and which member won how many
images. Reads the cells of `benchmarks/adversarial/standard.yaml` from the results database.

    licbench run benchmarks/adversarial/standard.yaml
    python benchmarks/standard_vs_pgd.py [--db results.db] [--benchmark adv-standard]

(without --db: your results, else the shipped reference results)
"""

from __future__ import annotations

import argparse
from collections import Counter

from tabulate import tabulate

import licbench


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db")
    p.add_argument("--benchmark", default="adv-standard")
    args = p.parse_args()
    results = licbench.results(args.db)
    wide = results.wide[results.wide.benchmark == results.check(args.benchmark)]
    rows = []
    for (label, q), part in wide[wide.defense == "none"].groupby(["label", "quality"]):
        bpp = part.pivot_table(index="image", columns="attack", values="bpp")
        clean = bpp.pop("none").mean()
        members = bpp[[a for a in bpp.columns if "@" in a]]
        who = Counter(members.idxmax(axis=1))
        row = {"codec": label, "quality": f"{q:g}", "plain pgd": bpp["pgd"].mean() / clean}
        row.update({a: members[a].mean() / clean for a in members.columns})
        row["standard (worst per image)"] = members.max(axis=1).mean() / clean
        row["wins"] = ", ".join(f"{a} {n}" for a, n in who.most_common())
        row["images"] = len(members)
        rows.append(row)
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3f"))


if __name__ == "__main__":
    main()
