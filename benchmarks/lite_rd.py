"""Kodak rate-distortion of the shipped lite codecs against CompressAI's published curves.

Every point is `licbench eval` on real bitstreams (all 24 Kodak images); the reference is
CompressAI's own Kodak result file for its pretrained model of the same architecture
($LICBENCH_DATA/reference/compressai-ARCH_mse_cpu.json). BD-rate / BD-PSNR are computed
against the full official curve (8 or 6 qualities) over the overlapping range, and against
CompressAI's JPEG curve on Kodak (reference/jpeg.json).

    python benchmarks/lite_rd.py [--limit N] [--json OUT.json] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tabulate import tabulate

from licbench.bench.evaluate import evaluate_folder
from licbench.bjontegaard import bd_psnr, bd_rate
from licbench.plugin.manager import load_registry
from licbench.settings import Settings
from licbench_builtin.codecs import LITE_ARCHS, lite_qualities


def shared() -> Path:
    root = Settings.from_env().data
    if root is None:
        raise SystemExit("set LICBENCH_DATA to the shared data folder (kodak/, reference/)")
    return root


def reference(name: str) -> dict[str, list[float]]:
    """CompressAI's published Kodak results: ``ARCH`` (its pretrained model) or ``jpeg``."""
    file = "jpeg.json" if name == "jpeg" else f"compressai-{name}_mse_cpu.json"
    return json.loads((shared() / "reference" / file).read_text())["results"]


def plot(points: dict[str, dict[str, list[float]]], out: Path) -> None:
    """PSNR against bpp: each shipped family (solid) beside its official curve (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for arch, ours in points.items():
        ref = reference(arch)
        line = ax.plot(ours["bpp"], ours["psnr"], "o-", label=f"{arch}-lite (licbench, CPU)")[0]
        ax.plot(
            ref["bpp"],
            ref["psnr-rgb"],
            "s--",
            color=line.get_color(),
            alpha=0.6,
            label=f"{arch} (CompressAI, official)",
        )
    jpeg = reference("jpeg")
    ax.plot(jpeg["bpp"], jpeg["psnr-rgb"], "^:", color="gray", label="JPEG (CompressAI's run)")
    ax.set(
        xlabel="bpp", ylabel="PSNR (dB)", title="Kodak, 24 images, real bitstreams", xlim=(0, 1.4)
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--limit", type=int, help="first N Kodak images only (default: all 24)")
    p.add_argument("--json", type=Path, help="also write the measured points here")
    p.add_argument("--plot", type=Path, help="also draw the curves into this PNG")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kodak = str(shared() / "kodak")
    reg = load_registry()
    metrics = [reg.create("metric", n) for n in ("bpp", "psnr", "ms-ssim")]
    rows, summary, points = [], [], {}
    jpeg = reference("jpeg")
    for arch in LITE_ARCHS:
        qualities = lite_qualities(arch)
        if not qualities:
            continue
        ref = reference(arch)
        ours: dict[str, list[float]] = {"bpp": [], "psnr": [], "ms-ssim": []}
        for q in qualities:
            codec = reg.create("codec", f"{arch}-lite", quality=q)
            _, mean = evaluate_folder(codec, kodak, metrics, args.limit, estimate=False)
            for k in ours:
                ours[k].append(mean[k])
            rows.append(
                [
                    f"{arch}-lite",
                    q,
                    mean["bpp"],
                    mean["psnr"],
                    mean["ms-ssim"],
                    ref["bpp"][q - 1],
                    ref["psnr-rgb"][q - 1],
                    ref["ms-ssim-rgb"][q - 1],
                ]
            )
        points[arch] = ours
        for name, anchor in ((f"CompressAI {arch}", ref), ("JPEG (CompressAI's Kodak run)", jpeg)):
            summary.append(
                [
                    f"{arch}-lite vs {name}",
                    bd_rate(anchor["bpp"], anchor["psnr-rgb"], ours["bpp"], ours["psnr"]),
                    bd_psnr(anchor["bpp"], anchor["psnr-rgb"], ours["bpp"], ours["psnr"]),
                ]
            )
    n = args.limit or 24
    print(f"Kodak ({n} images), real bitstreams, {torch.get_num_threads()} CPU threads\n")
    headers = ["codec", "q", "bpp", "PSNR", "MS-SSIM", "ref bpp", "ref PSNR", "ref MS-SSIM"]
    print(tabulate(rows, headers=headers, floatfmt=".4f", tablefmt="github"))
    print()
    headers = ["family", "BD-rate % (+ = more bits)", "BD-PSNR dB"]
    print(tabulate(summary, headers=headers, floatfmt=".2f", tablefmt="github"))
    if args.json:
        args.json.write_text(json.dumps(points, indent=2))
    if args.plot:
        plot(points, args.plot)


if __name__ == "__main__":
    main()
