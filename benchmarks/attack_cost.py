"""Each attack's cost as a ratio to one bare forward + backward, with the work-saving rules
switched off ("before") and on ("after"), measured in one run on one image.

The unit is one forward + backward of the rate to the input through the quantization proxy
(the model alone, nothing else). The rules that save work without changing a result:

- a rate-only objective skips the decoder (synthesis transform) in its gradient passes;
- an iterate whose delivered 8-bit image was measured before is not encoded again;
- a defended codec chooses its transform once per image (K-way: K likelihood passes), not
  once for the bitstream and again for the rate estimate or each straight-through step.

"Before" switches all three off inside this script; the ``same`` column says whether the
attack's output is identical with them on (it found the defect of measuring iterates inside
the noise proxy, since fixed: docs/adversarial.md).

    python benchmarks/attack_cost.py [--crop 256] [--quality 4] [--threads 2] [--iters 20]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch
from tabulate import tabulate

import licbench_builtin.attacks.objective as objective
from licbench.api.context import RunContext
from licbench.api.defense import DefendedCodec, Transform
from licbench.data import DataRef, load
from licbench.images import pad
from licbench.plugin.manager import load_registry
from licbench.rd import DOWNSAMPLING, likelihood_bits


def unit_seconds(model: torch.nn.Module, x: torch.Tensor, n: int = 5) -> float:
    """Median seconds of one forward + backward of the rate to the input."""
    model.eval().requires_grad_(False)
    times = []
    with objective.quantization_proxy(model, "noise"):
        for _ in range(n):
            xi = x.clone().requires_grad_(True)
            t0 = time.perf_counter()
            out = model(pad(xi, DOWNSAMPLING)[0])
            torch.autograd.grad(likelihood_bits(out["likelihoods"]), xi)
            times.append(time.perf_counter() - t0)
    return sorted(times)[n // 2]


@contextlib.contextmanager
def savings_off() -> Iterator[None]:
    """The three rules switched off: the decoder runs, every offer is encoded, every
    ``choose`` chooses again."""

    @contextlib.contextmanager
    def with_decoder(model: torch.nn.Module) -> Iterator[None]:
        yield

    offer = objective.Best.offer

    def offer_all(self: objective.Best, *candidates: torch.Tensor) -> float:
        self._seen.clear()
        return offer(self, *candidates)

    def choose_again(self: DefendedCodec, x: torch.Tensor) -> Transform:
        return self.defense.transform_for(self.inner, x)

    saved = (objective.without_decoder, objective.Best.offer, DefendedCodec.choose)
    objective.without_decoder = with_decoder  # type: ignore[assignment]
    objective.Best.offer = offer_all  # type: ignore[method-assign]
    DefendedCodec.choose = choose_again  # type: ignore[method-assign]
    try:
        yield
    finally:
        objective.without_decoder, objective.Best.offer, DefendedCodec.choose = saved  # type: ignore[method-assign]


def timed(attack: Any, codec: Any, x: torch.Tensor, ctx: RunContext) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    t0 = time.perf_counter()
    out = attack.perturb(codec, x, ctx)
    return time.perf_counter() - t0, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image", default="kodim01")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--quality", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20, help="gradient steps of each attack")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reg = load_registry()
    x = dict(load(DataRef.of({"name": "kodak", "crop": args.crop}), reg))[args.image]
    bare = reg.create("codec", "bmshj2018-hyperprior-lite", quality=args.quality)
    two_way = reg.create("defense", "two-way").wrap(bare, None)
    ctx = RunContext(torch.device("cpu")).for_image(args.image)
    n = args.iters
    cases = [  # (attack, params, codec it runs against)
        ("fgsm", {}, bare),
        ("pgd", {"iters": n}, bare),
        ("pgd", {"iters": n, "objective": "distortion"}, bare),
        ("apgd", {"iters": n}, bare),
        ("apgd", {"iters": n, "draws": 4}, two_way),
        ("eot", {"iters": n, "draws": 4}, two_way),
        ("kway-adaptive", {"iters": n, "draws": 2}, two_way),
        ("square", {"queries": 5 * n}, bare),
        ("random-noise", {}, bare),
    ]
    unit = unit_seconds(bare.model, x)
    rows = []
    for name, params, codec in cases:
        attack = reg.create("attack", name, **params)
        with savings_off():
            before, out_before = timed(attack, codec, x, ctx)
        after, out_after = timed(attack, codec, x, ctx)
        same = "yes" if torch.equal(out_before, out_after) else "no"
        where = "two-way" if codec is two_way else "bare"
        label = f"{name} {', '.join(f'{k}={v}' for k, v in params.items())}".strip()
        rows.append([label, where, before / unit, after / unit, before / after, same])
    print(
        f"{args.image} {args.crop}x{args.crop}, lite hyperprior q{args.quality}, "
        f"{torch.get_num_threads()} threads; one forward + backward = {1000 * unit:.1f} ms\n"
    )
    headers = ["attack", "codec", "before (× f+b)", "after (× f+b)", "saved (×)", "same"]
    print(tabulate(rows, headers=headers, tablefmt="github", floatfmt=".1f"))


if __name__ == "__main__":
    main()
