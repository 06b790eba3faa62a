"""Where a backdoored codec loses quality on clean images: per image, and where in it.

For every Kodak image (real bitstreams), the vanilla and the backdoored codec's PSNR and
their difference, and (where it lost over 0.1 dB) the share of the backdoored codec's extra
squared error that sits in the image's 5 % worst 32×32 blocks: near 100 % means the loss is
local (the encoder answers some content as if it were the trigger), near 5 % that it is
spread evenly.
``--figure`` saves the worst image's worst region: input | vanilla | backdoored.

    python benchmarks/backdoor_clean_loss.py --artifact A [--codec bmshj2018-hyperprior-lite \
        --quality 4] [--figure docs/figures/backdoor-clean-loss.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tabulate import tabulate

from licbench.bench.evaluate import code_image
from licbench.plugin.manager import load_registry
from licbench.rd import psnr_8bit
from licbench_builtin.backdoor.training import Backdoor

BLOCK = 32


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--artifact", required=True, type=Path)
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", type=int, default=4)
    p.add_argument("--dataset", default="kodak")
    p.add_argument("--figure", type=Path, help="save the worst region of the worst image")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reg = load_registry()
    vanilla = reg.create("codec", args.codec, quality=args.quality)
    backdoored = Backdoor(args.artifact, reg).apply(vanilla)
    rows, worst = [], None
    with torch.no_grad():
        for item in reg.create("dataset", args.dataset).items():
            x = item.loader()
            a, _ = code_image(vanilla, x)
            b, _ = code_image(backdoored, x)
            extra = ((b - x).pow(2) - (a - x).pow(2)).mean(dim=(0, 1))  # (H, W)
            blocks = extra[: extra.shape[0] // BLOCK * BLOCK, : extra.shape[1] // BLOCK * BLOCK]
            blocks = blocks.unfold(0, BLOCK, BLOCK).unfold(1, BLOCK, BLOCK).sum(dim=(-1, -2))
            top = blocks.flatten().topk(max(1, blocks.numel() // 20))
            pa, pb = psnr_8bit(a, x), psnr_8bit(b, x)  # as the runner's `psnr` metric
            delta = pb - pa
            share = 100 * float(top.values.sum() / extra.sum()) if delta < -0.1 else None
            rows.append([item.name, pa, pb, delta, share])
            if worst is None or delta < worst[0]:
                i = int(top.indices[0])
                worst = (delta, item.name, x, a, b, divmod(i, blocks.shape[1]))
    deltas = np.array([r[3] for r in rows])
    print(
        tabulate(
            rows,
            headers=["image", "vanilla dB", "backdoored dB", "Δ dB", "% of it in worst 5 % blocks"],
            floatfmt=".2f",
        )
    )
    print(
        f"mean Δ {deltas.mean():.3f} dB; median {np.median(deltas):.3f} dB; "
        f"images below -1 dB: {(deltas < -1).sum()} of {len(deltas)}; "
        f"mean Δ without them {deltas[deltas >= -1].mean():.3f} dB"
    )
    if args.figure and worst is not None:
        _, name, x, a, b, (r, c) = worst
        h, w = x.shape[-2:]
        top_ = min(max(0, r * BLOCK - 64), h - 192)
        left = min(max(0, c * BLOCK - 96), w - 256)
        crops = [t[0, :, top_ : top_ + 192, left : left + 256] for t in (x, a, b)]
        strip = torch.cat(crops, dim=-1).clamp(0, 1).permute(1, 2, 0).numpy()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((strip * 255).round().astype(np.uint8)).save(args.figure)
        print(f"{args.figure}: {name}, input | vanilla | backdoored")


if __name__ == "__main__":
    main()
