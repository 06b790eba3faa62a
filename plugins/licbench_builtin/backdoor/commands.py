"""Backdoor commands, added to the ``licbench`` CLI through the ``register_commands`` hook
(exactly as a third-party package adds its own): ``poison`` and ``backdoor train``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from licbench.plugin.hookspecs import hookimpl


def cmd_poison(args: argparse.Namespace) -> int:
    from licbench.images import load_image, save_image
    from licbench.rd import psnr_from_mse
    from licbench_builtin.backdoor.training import Backdoor, apply_trigger

    trigger, goal = Backdoor(Path(args.artifact), args.registry).trigger(args.trigger)
    x = load_image(args.input, args.settings.max_pixels)
    xp = apply_trigger(trigger, goal, x, bound=args.bound, amplify=args.amplify)
    save_image(xp, args.output)
    mse = float((xp - x).pow(2).mean())
    print(f"{args.output}: poisoned, MSE {mse:.3g} ({psnr_from_mse(mse):.2f} dB against the input)")
    return 0


@hookimpl
def register_commands(subparsers: Any) -> None:
    from licbench.cli.run import DEVICES, cmd_prepare

    s = subparsers.add_parser("backdoor", help="backdoor artifacts")
    bsub = s.add_subparsers(dest="backdoor_command", required=True)
    b = bsub.add_parser("train", help="alias of `licbench prepare`: train a manifest's artifacts")
    b.add_argument("manifest", type=Path)
    b.add_argument("--db", help="results database (for the run's context; nothing is written)")
    b.add_argument("--device", choices=DEVICES)
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=cmd_prepare)

    s = subparsers.add_parser("poison", help="apply a trained trigger to an image")
    s.add_argument("--artifact", required=True, help="a backdoor artifact file")
    s.add_argument("--trigger", help="trigger label (default: the artifact's first)")
    s.add_argument("--amplify", type=float, default=1.0, help="scale the trigger's change")
    s.add_argument(
        "--bound", type=float, help="scale the change down to MSE <= BOUND² (e.g. 0.005)"
    )
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(func=cmd_poison)
