"""Cost of backdoor injection, measured in one run on the shipped mid-quality hyperprior.

1. One backdoor training step (the shared Trainer with BackdoorObjective: clean pass,
   poisoned pass, encoder and trigger updates) against one plain encoder fine-tuning step
   (R + λ·255²·MSE on the clean batch, encoder only) on the same batch.
2. The trigger's forward time against the encoder's on a Kodak image (inference).

    python benchmarks/backdoor_cost.py [--trigger dct-adaptive] [--steps 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F

from licbench.plugin.manager import load_registry
from licbench.rd import ZOO_LAMBDAS, bpp_of, rd_loss
from licbench.settings import Settings
from licbench.train.trainer import TrainConfig, Trainer
from licbench_builtin.backdoor.training import BackdoorObjective


def plain_steps(model: torch.nn.Module, batches: list[torch.Tensor], lmbda: float) -> float:
    opt = torch.optim.Adam(cast(torch.nn.Module, model.g_a).parameters(), lr=1e-4)
    model.train()
    t0 = time.perf_counter()
    for x in batches:
        out = model(x)
        loss = rd_loss(bpp_of(out["likelihoods"], x), F.mse_loss(out["x_hat"], x), lmbda)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(cast(torch.nn.Module, model.g_a).parameters(), 1.0)
        opt.step()
    return (time.perf_counter() - t0) / len(batches)


def backdoor_steps(
    model: torch.nn.Module, batches: list[torch.Tensor], obj: BackdoorObjective
) -> float:
    cfg = TrainConfig(steps=len(batches), batch_size=batches[0].shape[0], patch_size=64)
    trainer = Trainer(model, obj, [torch.rand(1, 3, 64, 64)], cfg, Path(tempfile.mkdtemp()) / "c")
    t0 = time.perf_counter()
    for x in batches:
        trainer._one_step(x)
    return (time.perf_counter() - t0) / len(batches)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", type=int, default=4)
    p.add_argument("--trigger", default="dct-adaptive")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reg = load_registry()
    codec = reg.create("codec", args.codec, quality=args.quality)
    lmbda = ZOO_LAMBDAS[args.quality]
    torch.manual_seed(0)
    batches = [torch.rand(args.batch, 3, args.patch, args.patch) for _ in range(args.steps + 1)]

    plain_steps(copy.deepcopy(codec.model), batches[:1], lmbda)  # warm-up
    plain = plain_steps(copy.deepcopy(codec.model), batches[1:], lmbda)
    trigger = reg.create("trigger", args.trigger)
    obj = BackdoorObjective(lmbda, {"t": (trigger, reg.create("objective", "bpp"))})
    backdoor_steps(copy.deepcopy(codec.model), batches[:1], obj)  # warm-up
    backdoor = backdoor_steps(copy.deepcopy(codec.model), batches[1:], obj)

    root = Settings.from_env().data
    x = reg.create("dataset", "kodak", path=str(root / "kodak") if root else None).items()[0]
    x = x.loader()
    trigger.eval()
    with torch.no_grad():
        times = {}
        for name, fn in (("trigger", trigger), ("encoder", codec.model.g_a)):
            fn(x)
            t0 = time.perf_counter()
            for _ in range(5):
                fn(x)
            times[name] = (time.perf_counter() - t0) / 5
    print(
        f"{args.codec} q={args.quality}, batch {args.batch}x{args.patch}^2, "
        f"{torch.get_num_threads()} CPU threads, {args.steps} steps each"
    )
    print(
        f"training step: plain encoder fine-tuning {plain * 1e3:.1f} ms, "
        f"backdoor ({args.trigger} + bpp goal) {backdoor * 1e3:.1f} ms, "
        f"ratio backdoor/plain = {backdoor / plain:.2f}"
    )
    print(
        f"inference on {x.shape[-1]}x{x.shape[-2]} Kodak: trigger {times['trigger'] * 1e3:.1f} ms, "
        f"encoder g_a {times['encoder'] * 1e3:.1f} ms, ratio = "
        f"{times['trigger'] / times['encoder']:.2f}"
    )


if __name__ == "__main__":
    main()
