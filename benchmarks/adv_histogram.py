"""Fig. 7 of Song, Choi, Han: the distribution over images of one metric (default bpp) for
each (attack, defense) cell of a benchmark at one quality, from the results database.

    licbench run benchmarks/adversarial/fig6.yaml
    python benchmarks/adv_histogram.py --benchmark adv-fig6 --quality 6 [--metric bpp] [--db URL]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from licbench.bench.store import ResultStore  # noqa: E402
from licbench.paths import default_db_url  # noqa: E402
from licbench.results.tables import current_cells  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--benchmark", default="adv-fig6")
    p.add_argument("--quality", type=float, default=6)
    p.add_argument("--metric", default="bpp")
    p.add_argument("--db", default=default_db_url())
    p.add_argument("--out", default=None)
    a = p.parse_args()
    store = ResultStore(a.db)
    cells = current_cells(store)
    cells = cells[(cells.benchmark == a.benchmark) & (cells.quality == a.quality)]
    if cells.empty:
        raise SystemExit(f"no finished cells of {a.benchmark} at quality {a.quality:g} in {a.db}")
    scores = store.frame("scores")
    scores = scores[scores.metric == a.metric].merge(cells, left_on="cell_key", right_on="key")
    fig, ax = plt.subplots(figsize=(6, 4))
    for (attack, defense), part in scores.groupby(["attack", "defense"]):
        values = part["value"]
        ax.hist(values, bins=12, alpha=0.5, label=f"{attack} / {defense}")
        print(
            f"{attack:>8} / {defense:<10} n={len(values):3d} mean={values.mean():.4f} "
            f"median={values.median():.4f} max={values.max():.4f}"
        )
    ax.set_xlabel(a.metric)
    ax.set_ylabel("images")
    ax.set_title(f"{a.benchmark}, quality {a.quality:g}")
    ax.legend()
    out = a.out or f"hist-{a.benchmark}-q{a.quality:g}-{a.metric}.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
