"""Rate-distortion plots of a benchmark: measured curves with their spread over images,
and, on full-size Kodak, the published curves of the same architectures (dashed)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from licbench.leaderboard.spread import mean_interval
from licbench.leaderboard.tables import slug
from licbench.published import Published, anchors, for_codec

MARKERS = "os^vD<>pP*Xhd"
LEGEND_PT = 9


def _errors(wide: pd.DataFrame, cur: pd.DataFrame, metric: str) -> np.ndarray:
    """Per point of ``cur`` (sorted means), the 95 % interval of ``metric`` over images as
    (below, above) distances for matplotlib."""
    keys = ["quality", "label", "attack", "defense"]
    out = []
    for row in cur.itertuples():
        at = wide
        for k in keys:
            at = at[at[k] == getattr(row, k)]
        lo, hi = mean_interval(list(at[metric].dropna())) if metric in at else (np.nan, np.nan)
        mean = getattr(row, metric)
        out.append((max(mean - lo, 0.0), max(hi - mean, 0.0)) if np.isfinite(lo) else (0.0, 0.0))
    return np.array(out, float).T.reshape(2, -1)


def rd_plot(
    means: pd.DataFrame,
    wide: pd.DataFrame,
    out_dir: Path,
    fmt: str = "png",
    published: Published | None = None,
    published_on: Collection[tuple[str, str]] = (),
) -> list[Path]:
    """One plot per benchmark and dataset: PSNR against real bpp, one curve per codec,
    attack and defense (clean codecs solid, attacked or defended ones dotted), each point
    with its 95 % interval over images, every series in its own colour and marker; on the
    (benchmark, dataset) pairs of ``published_on`` (full-size Kodak,
    :meth:`~licbench.leaderboard.view.Results.published_on`), each architecture's published
    curve and the state-of-the-art anchors from ``published``, dashed, clipped to the
    measured range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    if "bpp" not in means or "psnr" not in means:
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    for (bench, ds), part in means.groupby(["benchmark", "dataset"]):
        series = list(part.groupby(["label", "attack", "defense"]))
        colours = plt.get_cmap("tab20" if len(series) <= 20 else "turbo")
        fig, ax = plt.subplots(figsize=(8.5, 6))
        for i, ((label, attack, defense), cur) in enumerate(series):
            cur = cur.dropna(subset=["bpp", "psnr"]).sort_values("bpp")
            clean = attack == "none" and defense == "none"
            name = " · ".join([label] + [p for p in (attack, defense) if p != "none"])
            name = name.replace("$", r"\$")  # a label is text, never matplotlib mathtext
            colour = colours(i / max(len(series) - 1, 1) if len(series) > 20 else i)
            ax.errorbar(cur.bpp, cur.psnr, yerr=_errors(wide, cur, "psnr"),
                        xerr=_errors(wide, cur, "bpp"), fmt="-" if clean else ":",
                        marker=MARKERS[i % len(MARKERS)], color=colour, label=name,
                        markersize=4, capsize=2, elinewidth=0.8)  # fmt: skip
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        if published is not None and (bench, ds) in published_on:
            refs = [for_codec(published, label) for label in sorted({str(x) for x in part.label})]
            refs += list(anchors(published).values())
            for j, ref in enumerate(r for r in refs if r is not None):
                ref = ref[(ref.bpp >= x0) & (ref.bpp <= x1) & (ref.psnr >= y0) & (ref.psnr <= y1)]
                if len(ref):  # grey, told apart by dash pattern and marker
                    ax.plot(ref.bpp, ref.psnr, ("--", "-.", ":")[j % 3], color="0.3",
                            linewidth=1, marker="x+1234v^"[j % 8], markersize=5,
                            label=f"{ref.name.iloc[0]} (published, Kodak full size)")  # fmt: skip
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        title = f"{bench}: {ds} (bars: 95 % interval over images)".replace("$", r"\$")
        ax.set(xlabel="bits per pixel (real bitstream)", ylabel="PSNR (dB, RGB)", title=title)
        ax.grid(alpha=0.3)
        if len(series) > 16:  # two columns beside the axes would squeeze them: below
            ax.legend(fontsize=LEGEND_PT, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
        else:
            ax.legend(fontsize=LEGEND_PT, loc="center left", bbox_to_anchor=(1.01, 0.5))
            fig.tight_layout()
        path = out_dir / f"rd-{slug(f'{bench}-{ds}')}.{fmt}"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
