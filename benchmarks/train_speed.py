"""Training steps per second: licbench's Trainer against a bare PyTorch loop.

Same model, same batches, same optimizers (main Adam + auxiliary Adam), measured in one run,
for each shipped lite architecture by default.

    python benchmarks/train_speed.py [--arch A ...] [--N 64 --M 96] [--steps 30] [--patch 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from licbench.rd import rd_loss
from licbench.train.codec import build_model
from licbench.train.objectives import RateDistortion
from licbench.train.trainer import PatchSampler, TrainConfig, Trainer
from licbench_builtin.codecs import LITE_ARCHS


def bare_loop(model: torch.nn.Module, batches: list[torch.Tensor], lmbda: float) -> float:
    params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt, aux_opt = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(aux_params, lr=1e-3)
    t0 = time.perf_counter()
    for x in batches:
        out = model(x)
        bpp = sum(-v.log2().sum() for v in out["likelihoods"].values()) / (
            x.shape[0] * x.shape[-2] * x.shape[-1]
        )
        loss = rd_loss(bpp, torch.nn.functional.mse_loss(out["x_hat"], x), lmbda)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        aux_opt.zero_grad()
        model.aux_loss().backward()  # type: ignore[operator]  # a compressai model method
        aux_opt.step()
    return len(batches) / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--arch", nargs="+", default=list(LITE_ARCHS))
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--M", type=int, default=96)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    args = p.parse_args()
    torch.manual_seed(0)
    images = [torch.rand(1, 3, 321, 481) for _ in range(16)]
    sampler = PatchSampler(images, args.patch, args.batch, seed=0)
    batches = [sampler.next() for _ in range(args.steps)]

    print(
        f"N={args.N} M={args.M} batch {args.batch}x{args.patch}^2, "
        f"{torch.get_num_threads()} CPU threads, {args.steps} steps each"
    )
    for arch in args.arch:
        bare, ours = measure(arch, args, images, batches)
        print(
            f"{arch}: bare PyTorch loop {bare:.3f} steps/s; licbench Trainer {ours:.3f} "
            f"steps/s (includes one final checkpoint); ratio licbench/bare = {ours / bare:.3f}"
        )


def measure(
    arch: str, args: argparse.Namespace, images: list[torch.Tensor], batches: list[torch.Tensor]
) -> tuple[float, float]:
    torch.manual_seed(0)
    bare = bare_loop(build_model(arch, None, args.N, args.M).train(), batches, 0.013)
    torch.manual_seed(0)
    model = build_model(arch, None, args.N, args.M)
    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch,
        patch_size=args.patch,
        ckpt_every=10**9,
        val_every=10**9,
    )
    trainer = Trainer(
        model, RateDistortion(0.013), images, cfg, Path(tempfile.mkdtemp()) / "speed.pth.tar"
    )
    t0 = time.perf_counter()
    trainer.fit(progress=False)
    return bare, args.steps / (time.perf_counter() - t0)


if __name__ == "__main__":
    main()
