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

import licbench  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--benchmark", default="adv-fig6")
    p.add_argument("--quality", type=float, default=6)
    p.add_argument("--metric", default="bpp")
    p.add_argument("--db", help="default: your results, else the shipped reference results")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    results = licbench.results(a.db)
    wide = results.wide
    wide = wide[(wide.benchmark == results.check(a.benchmark)) & (wide.quality == a.quality)]
    if wide.empty or a.metric not in wide:
        raise SystemExit(f"no {a.metric} of {a.benchmark} at quality {a.quality:g}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for (attack, defense), part in wide.groupby(["attack", "defense"]):
        values = part[a.metric].dropna()
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
