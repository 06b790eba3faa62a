"""`licbench train-codec`: train a CompressAI architecture with the shared loop."""

from __future__ import annotations

import argparse
from pathlib import Path

from licbench.cli.run import DEVICES
from licbench.errors import LicbenchError


def cmd_train_codec(args: argparse.Namespace) -> int:
    from licbench.api.context import resolve_device
    from licbench.train.codec import train_codec

    if (args.quality is None) == (args.lmbda is None):
        raise LicbenchError("pass exactly one of --quality (zoo lambda) and --lmbda")
    info = train_codec(
        args.arch,
        args.out,
        args.data,
        quality=args.quality,
        lmbda=args.lmbda,
        N=args.N,
        M=args.M,
        val=args.val,
        init=args.init,
        resume=args.resume,
        progress=not args.no_progress,
        steps=args.steps,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        lr=args.lr,
        lr_drop=args.lr_drop or [],
        val_every=args.val_every,
        ckpt_every=args.ckpt_every,
        seed=args.seed,
        device=str(resolve_device(args.device)),
    )
    print(
        f"{args.out}: {info['arch']} N={info['N']} M={info['M']} lambda={info['lmbda']} "
        f"after {info['steps']} steps; {info['final']}"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("train-codec", help="train a CompressAI architecture (R + λ·255²·MSE)")
    s.add_argument("--arch", required=True)
    s.add_argument("--N", type=int, help="channel width (default: the zoo's for --quality)")
    s.add_argument("--M", type=int, help="latent width (default: the zoo's for --quality)")
    s.add_argument("--quality", type=int, help="zoo quality 1..8: sets lambda and widths")
    s.add_argument("--lmbda", type=float, help="explicit lambda instead of --quality")
    s.add_argument("--data", action="append", required=True, help="image folder (repeatable)")
    s.add_argument(
        "--val", action="append", help="validation folder (repeatable; default: held out)"
    )
    s.add_argument("--steps", type=int, required=True)
    s.add_argument("--out", type=Path, required=True, help="CompressAI-format checkpoint")
    s.add_argument("--resume", action="store_true", help="continue from OUT.train.pt")
    s.add_argument("--init", type=Path, help="warm-start from this checkpoint (same widths)")
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--patch-size", type=int, default=256)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument(
        "--lr-drop", type=int, action="append", help="divide lr by 10 at this step (repeatable)"
    )
    s.add_argument("--val-every", type=int, default=500)
    s.add_argument("--ckpt-every", type=int, default=200)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", choices=DEVICES)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_train_codec)
