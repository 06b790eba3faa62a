"""Cost of a threat model's standard attack set per image, as a ratio to one PGD run.

The set is exactly what ``standard: true`` adds to a manifest (``standard_attacks``): apgd
with 3 restarts, white-box through the defense (EoT over 8 draws where it is randomized),
pgd transferred from the bare codec, square with 300 queries on the real bitstream; each
gradient attack tries the noise, straight-through and no-quantization proxies. The
reference is one plain `pgd` run (50 steps, noise proxy) on the same image. Measured in one
run, on the bare codec and behind `two-way` (a randomized defense).

    python benchmarks/standard_cost.py [--image kodim01] [--crop 256] [--quality 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

import torch

from licbench.api.context import RunContext
from licbench.bench.manifest import StandardSet, ThreatModel
from licbench.bench.threats import standard_attacks
from licbench.data import DataRef, load
from licbench.plugin.manager import load_registry

if TYPE_CHECKING:
    from licbench.api.attack import Attack
    from licbench.api.codec import Codec


def seconds(attack: Attack, codec: Codec, x: torch.Tensor, ctx: RunContext) -> float:
    t0 = time.perf_counter()
    attack.perturb(codec, x, ctx)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image", default="kodim01")
    p.add_argument("--crop", type=int, default=256, help="central crop side (0: whole image)")
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reg = load_registry()
    x = dict(load(DataRef.of({"name": "kodak", "crop": args.crop or None}), reg))[args.image]
    bare = reg.create("codec", args.codec, quality=args.quality)
    defended = reg.create("defense", "two-way").wrap(bare, None)
    ctx = RunContext(torch.device("cpu")).for_image(args.image)
    # mypy misses positional Field defaults
    tm = ThreatModel(name="rate-linf", goal="rate", budget={"eps": "4/255"}, standard=StandardSet())  # type: ignore[call-arg]
    pgd = reg.create("attack", "pgd", objective="rate")
    print(
        f"{args.image} {tuple(x.shape[-2:])}, {args.codec} q{args.quality}, "
        f"{torch.get_num_threads()} threads"
    )
    for name, codec in (("bare codec", bare), ("two-way", defended)):
        ref = seconds(pgd, bare, x, ctx)  # gray-box PGD is generated on the bare codec
        total = 0.0
        print(f"\n{name}: one PGD run {ref:.1f} s")
        for ref_ in standard_attacks(tm, reg):
            attack = reg.create("attack", ref_.name, **ref_.params)
            target = codec if attack.adaptive else bare
            s = seconds(attack, target, x, ctx)
            total += s
            print(f"  {ref_.display:18s} {s:7.1f} s  {s / ref:5.1f}× PGD")
        print(f"  {'standard set':18s} {total:7.1f} s  {total / ref:5.1f}× PGD")


if __name__ == "__main__":
    main()
