"""Cost of the test-time attack and of the training-free defense, measured in one run.

1. One PGD iteration (the `pgd` plugin's loop: forward with the quantization proxy, rate
   objective, backward to the input, signed step, projection) against one bare forward +
   backward pass of the same model on the same input. Target: ratio <= 1.15.
2. Encoding time of `two-way` (two likelihood passes to choose, then entropy coding of the
   chosen path) against the bare codec's encoding, over Kodak images. Target: <= 2x (the
   paper reports about 1.8x). Next to it, the floor any faithful two-way implementation has
   on this device: choosing needs two likelihood passes, decoder included, before the one
   entropy coding, so the ratio cannot go below (2 · forward + encode) / encode. On a GPU
   the passes are cheap next to the CPU-bound entropy coder; on a CPU they are not.

    python benchmarks/adversarial_cost.py [--quality 6] [--iters 10] [--images 24] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from licbench.api.context import RunContext
from licbench.images import load_image, pad
from licbench.plugin.manager import load_registry
from licbench.rd import DOWNSAMPLING, likelihood_bits
from licbench_builtin.attacks.objective import quantization_proxy

if TYPE_CHECKING:
    from licbench.api.codec import Codec, LearnedCodec


def bare_passes(model: torch.nn.Module, x: torch.Tensor, n: int) -> float:
    """Seconds per forward + backward of the rate to the input, nothing else."""
    model.eval().requires_grad_(False)
    with quantization_proxy(model, "noise"):
        t0 = time.perf_counter()
        for _ in range(n):
            xi = x.clone().requires_grad_(True)
            out = model(pad(xi, DOWNSAMPLING)[0])
            torch.autograd.grad(likelihood_bits(out["likelihoods"]) / x[0, 0].numel(), xi)
    return (time.perf_counter() - t0) / n


def pgd_iterations(codec: Codec, x: torch.Tensor, n: int) -> float:
    attack = load_registry().create("attack", "pgd", objective="rate", iters=n)
    ctx = RunContext(torch.device("cpu"))  # no cache used
    t0 = time.perf_counter()
    attack.perturb(codec, x, ctx)
    return (time.perf_counter() - t0) / n


def encode_seconds(codec: Codec, images: list[torch.Tensor]) -> float:
    t0 = time.perf_counter()
    for x in images:
        codec.compress(x)
    return time.perf_counter() - t0


def forward_seconds(codec: LearnedCodec, images: list[torch.Tensor]) -> float:
    """Seconds for one likelihood pass (encoder, hyper-networks, decoder) over the images."""
    t0 = time.perf_counter()
    with torch.no_grad():
        for x in images:
            codec.model(pad(x, DOWNSAMPLING)[0])
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", type=int, default=6)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    reg = load_registry()
    codec = reg.create("codec", a.codec, quality=a.quality)
    kodak = cast(Path, reg.settings.data) / "kodak"  # LICBENCH_DATA
    paths = sorted(kodak.glob("*.png"))[: a.images]
    images = [load_image(f) for f in paths]
    x = images[0]

    bare_passes(codec.model, x, 1)  # warm-up
    pgd_iterations(codec, x, 1)
    bare = bare_passes(codec.model, x, a.iters)
    pgd = pgd_iterations(codec, x, a.iters)
    print(f"{a.codec} q{a.quality}, {x.shape[-1]}x{x.shape[-2]} Kodak image, {a.threads} threads")
    print(f"bare forward+backward: {bare * 1e3:.1f} ms   PGD iteration: {pgd * 1e3:.1f} ms")
    print(f"PGD iteration / bare pass ratio: {pgd / bare:.3f}  (target <= 1.15)")

    two_way = reg.create("defense", "two-way").wrap(codec, None)
    encode_seconds(codec, images[:1])  # warm-up
    bare_enc = encode_seconds(codec, images)
    two_enc = encode_seconds(two_way, images)
    print(f"encode {len(images)} Kodak images: bare {bare_enc:.2f} s   two-way {two_enc:.2f} s")
    print(f"two-way / bare encoding-time ratio: {two_enc / bare_enc:.3f}  (target <= 2)")
    fwd = forward_seconds(codec, images)
    floor = (2 * fwd + bare_enc) / bare_enc
    print(f"one likelihood pass over the same images: {fwd:.2f} s; the floor of a two-way")
    print(f"encoder on this device, (2 * pass + encode) / encode: {floor:.3f}")


if __name__ == "__main__":
    main()
