"""Batched attacks against one image at a time: PGD and APGD on Kodak crops, measured in one
run on one device. Each attack runs once per image and once on the whole batch (the same
images, seeds and steps); the table gives both times, the throughput ratio (per-image time
over batched time: above 1, batching pays), how many images get the same bpp of the real
bitstream, and the largest relative difference of bpp and of PSNR between the two. Batched
and single passes round differently; where a gradient component is within rounding of zero
its sign can flip, and the ascent then goes its own way (which is why a batch above one is
part of a cell's key).

    python benchmarks/attack_batch.py [--images 8] [--crop 256] [--iters 10] [--threads 2]
                                      [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from tabulate import tabulate

from licbench.api.attack import Attack, deliver
from licbench.api.codec import Codec
from licbench.api.context import RunContext, resolve_device
from licbench.data import DataRef, load
from licbench.plugin.manager import load_registry
from licbench.rd import psnr_8bit

CODEC = "bmshj2018-hyperprior-lite"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def scores(codec: Codec, x_adv: torch.Tensor) -> tuple[float, float]:
    """The real bitstream's bits per pixel and the PSNR of its decode."""
    enc = codec.compress(x_adv)
    return enc.num_bits() / x_adv[0, 0].numel(), psnr_8bit(codec.decompress(enc), x_adv)


def compare(attack: Attack, codec: Codec, x: torch.Tensor, device: torch.device) -> dict[str, Any]:
    """One attack per image and batched on the images ``x``: times and equality."""
    ctx = RunContext(device, seed=0)
    ctxs = [ctx.for_image(f"image{i}", noise_seed=i) for i in range(len(x))]
    eps = attack.budget()
    _sync(device)
    t0 = time.perf_counter()
    alone = [deliver(attack.perturb(codec, x[i : i + 1], c), x[i : i + 1], eps)
             for i, c in enumerate(ctxs)]  # fmt: skip
    _sync(device)
    t1 = time.perf_counter()
    batch = deliver(attack.perturb_batch(codec, x, ctxs), x, eps)
    _sync(device)
    t2 = time.perf_counter()
    same_bpp, worst_bpp, worst_psnr = 0, 0.0, 0.0
    for i, a in enumerate(alone):
        (bpp_a, psnr_a), (bpp_b, psnr_b) = scores(codec, a), scores(codec, batch[i : i + 1])
        same_bpp += bpp_a == bpp_b
        worst_bpp = max(worst_bpp, abs(bpp_b - bpp_a) / bpp_a)
        worst_psnr = max(worst_psnr, abs(psnr_b - psnr_a) / psnr_a)
    return {
        "attack": attack.name,
        "device": device.type,
        "images": len(x),
        "per-image s": t1 - t0,
        "batched s": t2 - t1,
        "batched/per-image throughput": (t1 - t0) / (t2 - t1),
        "bpp identical": f"{same_bpp}/{len(x)}",
        "bpp max rel. diff": worst_bpp,
        "PSNR max rel. diff": worst_psnr,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--iters", type=int, default=10, help="gradient steps of each attack")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    reg = load_registry()
    images = load(DataRef.of({"name": "kodak", "crop": args.crop}), reg, args.images)
    x = torch.cat([v for _, v in images]).to(device)
    codec = reg.create("codec", CODEC, quality=4).to(device)
    rows = [compare(reg.create("attack", a, iters=args.iters), codec, x, device)
            for a in ("pgd", "apgd")]  # fmt: skip
    print(f"{CODEC} q4, {len(x)} Kodak {args.crop}² crops, {args.iters} steps, "
          f"{args.threads} CPU threads")  # fmt: skip
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3g"))


if __name__ == "__main__":
    main()
