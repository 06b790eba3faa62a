"""Run one image through a codec and score it: the inner step of the runner and `eval`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from licbench.api.codec import Codec
from licbench.api.metric import Metric, Sample
from licbench.errors import LicbenchError
from licbench.imagefiles import folder_images
from licbench.images import load_image
from licbench.settings import DEFAULT_MAX_PIXELS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def code_image(codec: Codec, x: Tensor, estimate: bool = True) -> tuple[Tensor, dict[str, float]]:
    """Compress and decompress ``x``; return the reconstruction and rate/timing facts."""
    x = x.to(codec.device)
    _sync(codec.device)
    t0 = time.perf_counter()
    enc = codec.compress(x)
    _sync(codec.device)
    t1 = time.perf_counter()
    x_hat = codec.decompress(enc)
    _sync(codec.device)
    t2 = time.perf_counter()
    facts = {"bits": float(enc.num_bits()), "encode_s": t1 - t0, "decode_s": t2 - t1}
    est = codec.estimate_bits(x) if estimate else None
    _sync(codec.device)
    facts["estimate_s"] = time.perf_counter() - t2
    if est is not None:
        facts["est_bits"] = est
    return x_hat, facts


def score_image(
    name: str,
    codec: Codec,
    x: Tensor,
    metrics: Sequence[Metric],
    x_in: Tensor | None = None,
    estimate: bool = True,
) -> tuple[dict[str, float], dict[str, float]]:
    """Metric values for one image and the coding facts (bits, seconds) behind them.

    ``x_in`` is what enters the codec (an attacked or poisoned image); default ``x``.
    """
    x_in = x if x_in is None else x_in
    x_hat, facts = code_image(codec, x_in, estimate)
    sample = Sample(
        name=name,
        x=x.to(codec.device),
        x_in=x_in.to(codec.device),
        x_hat=x_hat,
        bits=int(facts["bits"]),
        est_bits=facts.get("est_bits"),
        encode_s=facts["encode_s"],
        decode_s=facts["decode_s"],
    )
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    for m in metrics:
        value = m.compute(sample)
        if value is not None:
            out[m.name] = float(value)
    facts["metric_s"] = time.perf_counter() - t0
    return out, facts


def check_size(
    where: str, x: Tensor, metrics: Sequence[Metric], codec: Codec | None = None
) -> None:
    """The one minimum-size rule: an image at least as large as the codec (if given) and
    every metric need; else an error naming the image (``where``) and what needs more."""
    h, w = x.shape[-2:]
    needs = {m.name: m.min_size for m in metrics} | ({codec.name: codec.min_size} if codec else {})
    need = max(needs.values(), default=1)
    if min(h, w) < need:
        who = [n for n, size in needs.items() if size > min(h, w)]
        raise LicbenchError(
            f"{where} is {w}x{h}, smaller than the {need}px minimum of {', '.join(who)}; "
            "use larger images or drop what needs them"
        )


def evaluate_folder(
    codec: Codec,
    folder: str,
    metrics: Sequence[Metric],
    limit: int | None = None,
    estimate: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[list[dict[str, float | str]], dict[str, float]]:
    """`licbench eval`: per-image scores on real bitstreams (of images of at most
    ``max_pixels``), and their means."""
    rows: list[dict[str, float | str]] = []
    for name, path in folder_images(folder)[:limit]:
        x = load_image(path, max_pixels)
        check_size(str(path), x, metrics, codec)
        values, _ = score_image(name, codec, x, metrics, estimate=estimate)
        rows.append({"image": name, **values})
    keys = [k for k in rows[0] if k != "image"]
    mean = {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}
    return rows, mean
