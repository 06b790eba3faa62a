"""The ``licbench`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from licbench.errors import LicbenchError


def _codec_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if getattr(args, "checkpoint", None):
        params["checkpoint"] = args.checkpoint
    if getattr(args, "pretrained", False):
        params["pretrained"] = True
    return params


def _quality(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.plugin.manager import get_registry

    reg = get_registry()
    rows = [
        (e.kind, e.name, f"{e.dist} {e.version}".strip(), (e.description or "").split("\n")[0][:70])
        for e in reg.entries(args.kind)
    ]
    print(tabulate(rows, headers=["kind", "name", "provided by", "description"]))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from licbench.bench.manifest import load_manifest
    from licbench.bench.runner import expand

    m = load_manifest(args.manifest)
    print(f"{args.manifest}: valid manifest '{m.name}', {len(expand(m))} cells")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from licbench.bench.manifest import load_manifest
    from licbench.bench.runner import Runner
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    manifest = load_manifest(args.manifest)
    store = ResultStore(args.db or default_db_url())
    runner = Runner(
        manifest,
        store,
        device=args.device,
        limit_images=args.limit_images,
        manifest_path=str(args.manifest),
        progress=not args.no_progress,
    )
    s = runner.run()
    print(
        f"{manifest.name}: {s.total} cells: {s.done} run, {s.skipped} already stored, "
        f"{s.failed} failed -> {store.url}"
    )
    for f in s.failures:
        print(f"  failed: {f} (traceback stored in the cells table)")
    return 1 if s.failed else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from licbench.bench import leaderboard as lb
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    store = ResultStore(args.db or default_db_url())
    means, directions, configs = lb.load_means(store)
    if args.benchmark:
        means = means[means.benchmark == args.benchmark]
    tables = {
        **lb.bd_summary(means, configs),
        **lb.family_tables(means, directions, configs, args.rank_by),
    }
    text = lb.render(tables, directions, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    if args.plot_dir:
        for path in lb.rd_plot(means, Path(args.plot_dir)):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch
    from tabulate import tabulate

    from licbench.bench.evaluate import evaluate_folder
    from licbench.bench.runner import resolve_device
    from licbench.plugin.manager import get_registry

    if args.threads:
        torch.set_num_threads(args.threads)
    codec = get_registry().create("codec", args.codec, quality=args.quality, **_codec_params(args))
    codec.to(resolve_device(args.device))
    rows, mean = evaluate_folder(codec, args.data, args.limit, estimate=not args.no_estimate)
    if args.json:
        print(
            json.dumps(
                {
                    "codec": args.codec,
                    "quality": args.quality,
                    "spec": codec.spec(),
                    "images": rows,
                    "mean": mean,
                },
                indent=2,
            )
        )
    else:
        print(tabulate([*rows, {"image": "mean", **mean}], headers="keys", floatfmt=".4f"))
    return 0


def cmd_backdoor_train(args: argparse.Namespace) -> int:
    from licbench.api.codec import RunContext
    from licbench.bench.manifest import load_manifest
    from licbench.bench.runner import resolve_device
    from licbench.paths import cache_dir
    from licbench.plugin.manager import get_registry

    m = load_manifest(args.manifest)
    refs = [a for a in m.attacks if a.name == "backdoor"]
    if not refs:
        raise LicbenchError(f"{args.manifest}: no `backdoor` attack to train; add one to attacks")
    reg = get_registry()
    device = resolve_device(args.device or m.device)
    ctx = RunContext(device, m.seed, cache_dir(), m.train_data)
    for c in m.codecs:
        for q in c.qualities:
            codec = reg.create("codec", c.name, quality=_quality(str(q)), **c.params).to(device)
            for ref in refs:
                try:
                    attack = reg.create("attack", ref.name, **ref.params)
                except LicbenchError as exc:
                    raise LicbenchError(f"{args.manifest}: attack '{ref.display}': {exc}") from exc
                attack.prepare(codec, ctx)
                print(f"{c.display} q={q:g} {ref.display}: {attack.backdoor.path}")
    return 0


def cmd_poison(args: argparse.Namespace) -> int:
    import math

    from licbench.images import load_image, save_image
    from licbench_builtin.backdoor.training import Backdoor, apply_trigger

    trigger, goal = Backdoor(Path(args.artifact)).trigger(args.trigger)
    x = load_image(args.input)
    xp = apply_trigger(trigger, goal, x, bound=args.bound, amplify=args.amplify)
    save_image(xp, args.output)
    mse = float((xp - x).pow(2).mean())
    psnr = math.inf if mse == 0 else -10 * math.log10(mse)
    print(f"{args.output}: poisoned, MSE {mse:.3g} ({psnr:.2f} dB against the input)")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    import torch

    from licbench.bench.runner import resolve_device
    from licbench.bitstream import write_bitstream
    from licbench.images import load_image
    from licbench.plugin.manager import get_registry

    codec = get_registry().create("codec", args.codec, quality=args.quality, **_codec_params(args))
    if args.backdoor:
        from licbench_builtin.backdoor.training import Backdoor

        codec = Backdoor(Path(args.backdoor)).apply(codec)
    codec.to(resolve_device(args.device))
    x = load_image(args.input)
    with torch.no_grad():
        enc = codec.compress(x)
    size = write_bitstream(Path(args.output), codec, enc)
    bpp = 8 * size / (enc.height * enc.width)
    print(f"{args.output}: {size} bytes, {bpp:.4f} bpp ({codec.name} q={codec.quality})")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from licbench.bench.runner import resolve_device
    from licbench.bitstream import read_bitstream
    from licbench.images import save_image
    from licbench.plugin.manager import get_registry

    header, enc = read_bitstream(Path(args.input))
    params = dict(header.get("params", {}))
    if args.checkpoint:
        params["checkpoint"] = args.checkpoint
    reg = get_registry()
    codec = reg.create("codec", header["codec"], quality=header["quality"], **params)
    if header.get("defense"):  # the defense's transform is in the payload metadata
        d = header["defense"]
        codec = reg.create("defense", d["name"], **d.get("params", {})).wrap(codec, None)
    expected = header.get("decoder_fingerprint") or header.get("fingerprint")
    if expected and codec.decoder_fingerprint() != expected:
        raise LicbenchError(
            f"{args.input}: written with other weights than {codec.name} {params} has; "
            "pass the encoder's checkpoint with --checkpoint"
        )
    codec.to(resolve_device(args.device))
    save_image(codec.decompress(enc), args.output)
    print(f"{args.output}: {enc.width}x{enc.height} ({header['codec']} q={header['quality']})")
    return 0


def cmd_train_codec(args: argparse.Namespace) -> int:
    from licbench.bench.runner import resolve_device
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="licbench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("plugins", help="list registered plugins and who provides them")
    s.add_argument("--kind", choices=None)
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("validate", help="check a manifest; nothing runs")
    s.add_argument("manifest", type=Path)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("run", help="run a manifest's matrix into the results database")
    s.add_argument("manifest", type=Path)
    s.add_argument("--db", help="SQLAlchemy URL or SQLite path (default: results.db)")
    s.add_argument("--device", choices=["auto", "cpu", "cuda"])
    s.add_argument("--limit-images", type=int)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("leaderboard", help="ranked tables and an RD plot from the database")
    s.add_argument("--db")
    s.add_argument("--format", choices=["md", "csv", "json", "html"], default="md")
    s.add_argument("--benchmark", help="only this benchmark")
    s.add_argument("--rank-by", help="metric to rank by (default: the manifest's)")
    s.add_argument("--plot-dir", default=".", help="where the RD plot PNGs go ('' for none)")
    s.add_argument("--output", help="write the tables to this file")
    s.set_defaults(func=cmd_leaderboard)

    def codec_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--codec", required=True)
        s.add_argument("--quality", type=_quality, required=True)
        s.add_argument("--checkpoint")
        s.add_argument("--pretrained", action="store_true")
        s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    s = sub.add_parser("eval", help="evaluate one codec on an image folder")
    codec_args(s)
    s.add_argument("--data", required=True, help="image folder")
    s.add_argument("--limit", type=int)
    s.add_argument("--json", action="store_true")
    s.add_argument("--no-estimate", action="store_true", help="skip the likelihood rate")
    s.add_argument("--threads", type=int, help="torch CPU threads")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("train-codec", help="train a CompressAI architecture (R + λ·255²·MSE)")
    s.add_argument("--arch", required=True)
    s.add_argument("--N", type=int, help="channel width (default: the zoo's for --quality)")
    s.add_argument("--M", type=int, help="latent width (default: the zoo's for --quality)")
    s.add_argument("--quality", type=int, help="zoo quality 1..8: sets lambda and widths")
    s.add_argument("--lmbda", type=float, help="explicit lambda instead of --quality")
    s.add_argument("--data", action="append", required=True, help="image folder (repeatable)")
    s.add_argument("--val", action="append", help="validation image folder (repeatable)")
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
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_train_codec)

    s = sub.add_parser("compress", help="write a bitstream file")
    s.add_argument("input")
    s.add_argument("output")
    codec_args(s)
    s.add_argument("--backdoor", help="encode with this backdoor artifact's encoder")
    s.set_defaults(func=cmd_compress)

    s = sub.add_parser("backdoor", help="backdoor artifacts")
    bsub = s.add_subparsers(dest="backdoor_command", required=True)
    b = bsub.add_parser("train", help="train every backdoor attack of a manifest (cached)")
    b.add_argument("manifest", type=Path)
    b.add_argument("--device", choices=["auto", "cpu", "cuda"])
    b.set_defaults(func=cmd_backdoor_train)

    s = sub.add_parser("poison", help="apply a trained trigger to an image")
    s.add_argument("--artifact", required=True, help="a backdoor artifact file")
    s.add_argument("--trigger", help="trigger label (default: the artifact's first)")
    s.add_argument("--amplify", type=float, default=1.0, help="scale the trigger's change")
    s.add_argument(
        "--bound", type=float, help="scale the change down to MSE <= BOUND² (e.g. 0.005)"
    )
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(func=cmd_poison)

    s = sub.add_parser("decompress", help="decode a bitstream file to an image")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--checkpoint", help="weights, if not at the path stored in the header")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.set_defaults(func=cmd_decompress)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LicbenchError as exc:
        print(f"licbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "licbench: interrupted; finished cells are stored, run again to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
