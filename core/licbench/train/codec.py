"""`licbench train-codec`: train any CompressAI architecture with the shared loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from licbench.checkpoint import read_state_dict
from licbench.data import held_out
from licbench.errors import LicbenchError
from licbench.hashing import hash_state_dict
from licbench.imagefiles import folder_images
from licbench.images import load_image
from licbench.rd import ZOO_LAMBDAS
from licbench.train import cache
from licbench.train.objectives import RateDistortion
from licbench.train.trainer import TrainConfig, Trainer


def build_model(arch: str, quality: int | None, N: int | None, M: int | None) -> torch.nn.Module:
    """A fresh CompressAI model at the zoo widths of ``quality`` or at explicit N (and M)."""
    from compressai.zoo.image import cfgs, model_architectures

    if arch not in model_architectures:
        raise LicbenchError(f"unknown architecture '{arch}'; one of {sorted(model_architectures)}")
    zoo = cfgs[arch][min(quality or 1, max(cfgs[arch]))]
    widths = [N or zoo[0]] + ([M or zoo[1]] if len(zoo) > 1 else [])
    return model_architectures[arch](*widths)


def load_folder_images(folders: list[str]) -> list[torch.Tensor]:
    return [load_image(p) for folder in folders for _, p in folder_images(folder)]


def _split(images: list[Tensor], val: list[str] | None) -> tuple[list[Tensor], list[Tensor]]:
    """Training and validation images: ``val``'s first 8, or the last ones held out."""
    if val:
        return images, load_folder_images(val)[:8]
    k = held_out(len(images))
    return (images[:-k], images[-k:]) if len(images) > k else (images, images)


def train_codec(
    arch: str,
    out: Path,
    data: list[str],
    *,
    quality: int | None = None,
    lmbda: float | None = None,
    N: int | None = None,
    M: int | None = None,
    val: list[str] | None = None,
    init: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    **cfg_kw: Any,
) -> dict[str, Any]:
    """Train, then write a CompressAI-format state dict (CDF tables updated) to ``out``,
    with its training record (validation included) beside it as ``out.json``.

    ``init`` warm-starts from another checkpoint of the same architecture and widths (e.g. a
    neighbouring quality); optimizer state starts fresh. Without ``val`` folders, the last
    :func:`licbench.data.held_out` training images are held out for validation.
    """
    if lmbda is None:
        if quality not in ZOO_LAMBDAS:
            raise LicbenchError("pass --quality 1..8 (zoo lambda) or an explicit --lmbda")
        lmbda = ZOO_LAMBDAS[quality]
    cfg = TrainConfig(**cfg_kw)
    torch.manual_seed(cfg.seed)
    model = build_model(arch, quality, N, M)
    if init is not None:
        try:
            model.load_state_dict(read_state_dict(Path(init)))
        except RuntimeError as exc:
            raise LicbenchError(
                f"{init}: does not fit {arch} N={N} M={M} ({str(exc).splitlines()[0]}); "
                "pass --init a checkpoint of the same architecture and widths"
            ) from exc
    out = Path(out)
    state = out.with_name(out.name + ".train.pt")
    if resume and not state.is_file():
        raise LicbenchError(f"{state} not found; run without --resume to start")
    images, val_images = _split(load_folder_images(data), val)

    def trainer() -> Trainer:
        return Trainer(model, RateDistortion(lmbda), images, cfg, out, val_images=val_images)

    def weights(_logs: dict[str, float]) -> dict[str, Tensor]:
        getattr(model.eval(), "update")(force=True)  # noqa: B009 (CompressAI CDF tables)
        return model.state_dict()

    info = {
        "arch": arch, "quality": quality, "lmbda": lmbda, "N": N, "M": M, "data": data,
        "val": val or "held out", "init": str(init) if init else None, "config": vars(cfg),
    }  # fmt: skip
    cache.build(out, trainer, weights, info, progress=progress, resume=resume, reuse=False,
                keep_state=True, threads=None)  # fmt: skip  (--threads: the user's choice)
    record = json.loads(cache.record_path(out).read_text())
    record["sha256"] = hash_state_dict(read_state_dict(out))
    cache.record_path(out).write_text(json.dumps(record, indent=2, default=str))
    return record
