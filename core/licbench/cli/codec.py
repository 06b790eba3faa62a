"""Commands on single images and bitstream files: eval, compress, decompress."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licbench.cli.run import DEVICES, registry
from licbench.errors import LicbenchError

if TYPE_CHECKING:  # the command line imports torch only when a command needs it
    from licbench.api.codec import Codec
    from licbench.bitstream import Header


def _quality(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"eps\": 0.01}'")
    return value


def _codec(args: argparse.Namespace, reg: Any) -> Codec:
    params: dict[str, Any] = {}
    if getattr(args, "checkpoint", None):
        params["checkpoint"] = args.checkpoint
    if getattr(args, "pretrained", False):
        params["pretrained"] = True
    codec: Codec = reg.create("codec", args.codec, quality=args.quality, **params)
    return codec


def cmd_eval(args: argparse.Namespace) -> int:
    import torch
    from tabulate import tabulate

    from licbench.api.context import resolve_device
    from licbench.bench.evaluate import evaluate_folder

    if args.threads:
        torch.set_num_threads(args.threads)
    reg = registry(args)
    codec = _codec(args, reg).to(resolve_device(args.device))
    metrics = [reg.create("metric", n) for n in reg.with_role("metric", "default")]
    rows, mean = evaluate_folder(
        codec, args.data, metrics, args.limit, not args.no_estimate, args.settings.max_pixels
    )
    if args.json:
        out = {"codec": args.codec, "quality": args.quality, "spec": codec.spec()}
        print(json.dumps({**out, "images": rows, "mean": mean}, indent=2))
    else:
        print(tabulate([*rows, {"image": "mean", **mean}], headers="keys", floatfmt=".4f"))
    return 0


def _with_plugins(codec: Codec, args: argparse.Namespace, reg: Any) -> tuple[Codec, Any]:
    """The codec behind ``--attack`` (a trained one, e.g. a backdoor) and ``--defense``,
    and the test-time attack that changes the input (with its context); a
    trained artifact must exist already (``licbench prepare`` trains it)."""
    from licbench.api.artifact import Trained
    from licbench.api.context import RunContext
    from licbench.train.cache import adopt_shipped, require

    ctx = RunContext(codec.device, args.seed, args.settings)
    attack = None
    for role in ("attack", "defense"):
        name = getattr(args, role)
        if not name:
            continue
        plugin = reg.create(role, name, **getattr(args, f"{role}_params"))
        if isinstance(plugin, Trained):
            recipe = plugin.recipe(codec, ctx)
            fix = "train it with `licbench prepare MANIFEST`"
            if recipe.path is None:
                adopt_shipped(recipe.family, recipe.location(ctx.cache_dir))
            path = require(recipe.location(ctx.cache_dir), f"{role} {name} artifact", fix)
            codec = plugin.load(codec, path)  # a backdoored codec, fed the clean input
        elif role == "attack":
            attack = plugin  # a test-time attack: white box against the bare codec
        if role == "defense":
            codec = plugin.wrap(codec, ctx)
    return codec, (attack, ctx)


def cmd_compress(args: argparse.Namespace) -> int:
    import torch

    from licbench.api.attack import deliver
    from licbench.api.context import resolve_device
    from licbench.bitstream import write_bitstream
    from licbench.images import load_image, save_image

    reg = registry(args)  # one for the codec, the attack and the defense
    bare = _codec(args, reg).to(resolve_device(args.device))
    codec, (attack, ctx) = _with_plugins(bare, args, reg)
    x = load_image(args.input, args.settings.max_pixels).to(codec.device)
    if attack is not None:  # delivered as the 8-bit image a file carries
        torch.manual_seed(args.seed)
        victim = getattr(codec, "inner", codec)
        x = deliver(attack.perturb(victim, x, ctx.for_image(Path(args.input).stem)), x,
                    attack.budget())  # fmt: skip
    if args.save_input:
        save_image(x, _output(args.save_input))
    with torch.no_grad():
        enc = codec.compress(x)
    size = write_bitstream(Path(args.output), codec, enc)
    bpp = 8 * size / (enc.height * enc.width)
    print(f"{args.output}: {size} bytes, {bpp:.4f} bpp ({codec.name} q={codec.quality})")
    return 0


def _decoder(header: Header, args: argparse.Namespace) -> Codec:
    """The codec (and defense) a checked header names. Weights from a file or a download
    come from the command line only; trained artifacts are looked up in the cache by the
    key the header holds, never trained."""
    from licbench.api.artifact import Recipe, Trained
    from licbench.train.cache import adopt_shipped, require

    reg = registry(args)
    _header_safe(args.input, "codec", header.codec, header.params, reg)
    params: dict[str, Any] = dict(header.params)
    if args.checkpoint:
        params["checkpoint"] = args.checkpoint
    elif args.pretrained:
        params["pretrained"] = True
    elif (header.weights or "").split(":")[0] in ("checkpoint", "pretrained"):
        raise LicbenchError(
            f"{args.input}: written with {header.codec} weights '{header.weights}'; pass them "
            "with --checkpoint PATH (or --pretrained to download CompressAI's)"
        )
    codec: Codec = reg.create("codec", header.codec, quality=header.quality, **params)
    d = header.defense
    if d:  # the defense's transform is in the payload metadata
        _header_safe(args.input, "defense", d.name, d.params, reg)
        defense = reg.create("defense", d.name, **d.params)
        if isinstance(defense, Trained):
            art = d.artifact or {}
            if not art:
                raise LicbenchError(f"{args.input}: names no {d.name} artifact; re-encode it")
            recipe = Recipe(art["family"], art["key"], art.get("suffix", ""))
            cache = args.settings.cache.resolve()
            where = recipe.location(cache).resolve()
            if not where.is_relative_to(cache):  # by content key, inside the cache only
                raise LicbenchError(f"{args.input}: artifact outside the cache; re-encode it")
            fix = f"train it with `licbench prepare MANIFEST` (the manifest with {d.name})"
            adopt_shipped(recipe.family, where)
            path = require(where, f"{d.name} artifact", fix)
            codec = defense.load(codec, path)
        codec = defense.wrap(codec, None)
    return codec


def _header_safe(source: Any, kind: str, name: str, given: dict[str, Any], reg: Any) -> None:
    """Refuse header parameters the plugin's ``Params`` does not mark header-safe."""
    from licbench.bitstream import unsafe_params

    if (kind, name) not in reg:
        raise LicbenchError(f"{source}: names {kind} '{name}', not installed here")
    bad = unsafe_params(given, reg.get(kind, name).load().Params)
    if bad:
        raise LicbenchError(
            f"{source}: header parameter {bad[0]!r} of {kind} '{name}' is not header-safe "
            "(a header names no file and starts no download); weights come from the command "
            "line (--checkpoint PATH or --pretrained)"
        )


def cmd_decompress(args: argparse.Namespace) -> int:
    from licbench.api.context import resolve_device
    from licbench.bitstream import read_bitstream
    from licbench.images import save_image

    out = _output(args.output)
    header, enc = read_bitstream(Path(args.input), args.settings.max_pixels)
    codec = _decoder(header, args)
    expected = header.decoder_fingerprint or header.fingerprint
    if codec.decoder_fingerprint() and codec.decoder_fingerprint() != expected:
        what = "names no weights fingerprint" if not expected else "has other weights"
        raise LicbenchError(
            f"{args.input}: {what} than {codec.name} q={codec.quality}'s; pass the "
            "encoder's checkpoint with --checkpoint, or re-encode the image"
        )
    codec.to(resolve_device(args.device))
    learned = codec.decoder_fingerprint() != ""  # entropy parameters recomputed on decode
    if learned and header.device and header.device != codec.device.type:
        print(
            f"licbench: warning: {args.input} was encoded on {header.device} and is decoded on "
            f"{codec.device.type}; a learned codec may decode it wrongly across device types: "
            f"decode with --device {header.device}",
            file=sys.stderr,
        )
    try:
        x_hat = codec.decompress(enc)
    except LicbenchError:
        raise
    except Exception as exc:  # a payload the codec cannot parse is the file's fault
        raise LicbenchError(
            f"{args.input}: corrupt {header.codec} payload ({type(exc).__name__}); "
            "re-encode the image with `licbench compress`"
        ) from exc
    save_image(x_hat, out)
    print(f"{args.output}: {enc.width}x{enc.height} ({header.codec} q={header.quality:g})")
    return 0


def _output(path: str) -> Path:
    """An image path that can be written: its folder exists, its extension is known."""
    from PIL import Image

    out = Path(path)
    if not out.parent.is_dir():
        raise LicbenchError(f"{out}: folder {out.parent} does not exist; create it first")
    if out.suffix.lower() not in Image.registered_extensions():
        raise LicbenchError(f"{out}: unknown image extension {out.suffix!r}; use .png")
    return out


def _codec_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--codec", required=True)
    s.add_argument("--quality", type=_quality, required=True)
    s.add_argument("--checkpoint")
    s.add_argument("--pretrained", action="store_true")
    s.add_argument("--device", default="auto", choices=DEVICES)


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("eval", help="evaluate one codec on an image folder")
    _codec_args(s)
    s.add_argument("--data", required=True, help="image folder")
    s.add_argument("--limit", type=int)
    s.add_argument("--json", action="store_true")
    s.add_argument("--no-estimate", action="store_true", help="skip the likelihood rate")
    s.add_argument("--threads", type=int, help="torch CPU threads")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("compress", help="write a bitstream file")
    s.add_argument("input")
    s.add_argument("output")
    _codec_args(s)
    s.add_argument("--attack", help="attack the input (or a trained attack's codec: backdoor)")
    s.add_argument("--seed", type=int, default=0, help="the attack's seed (default 0)")
    s.add_argument(
        "--save-input", metavar="FILE.png", help="write the encoded (attacked, 8-bit) input"
    )
    s.add_argument("--attack-params", type=_json, default={}, help="its params as JSON")
    s.add_argument("--defense", help="encode behind this defense")
    s.add_argument("--defense-params", type=_json, default={}, help="its params as JSON")
    s.set_defaults(func=cmd_compress, device="cpu")  # files are coded on the CPU by default

    s = sub.add_parser("decompress", help="decode a bitstream file to an image")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--checkpoint", help="the weights the stream was written with")
    s.add_argument(
        "--pretrained", action="store_true", help="trust a download of CompressAI's weights"
    )
    s.add_argument("--device", default="cpu", choices=DEVICES, help="default: cpu")
    s.set_defaults(func=cmd_decompress)
