"""`licbench train-codec`: train any CompressAI architecture with the shared loop."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from licbench.errors import LicbenchError
from licbench.hashing import hash_state_dict
from licbench.plugin.manager import get_registry
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
    reg = get_registry()
    images = []
    for folder in folders:
        images += [it.loader() for it in reg.create("dataset", "folder", path=folder).items()]
    return images


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
    """Train, then write a CompressAI-format state dict (CDF tables updated) to ``out``.

    ``init`` warm-starts from another checkpoint of the same architecture and widths (e.g. a
    neighbouring quality); optimizer state starts fresh.
    """
    from licbench.train.objectives import ZOO_LAMBDAS, RateDistortion
    from licbench_builtin.codecs.compressai import read_state_dict

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
    out.parent.mkdir(parents=True, exist_ok=True)
    val_images = load_folder_images(val)[:8] if val else []
    trainer = Trainer(
        model, RateDistortion(lmbda), load_folder_images(data), cfg, out, val_images=val_images
    )
    if resume:
        trainer.resume()
    t0 = time.perf_counter()
    logs = trainer.fit(progress=progress)
    model.eval().update(force=True)
    state = model.state_dict()
    torch.save(state, out)
    info = {
        "arch": arch,
        "quality": quality,
        "lmbda": lmbda,
        "N": N,
        "M": M,
        "steps": cfg.steps,
        "data": data,
        "val": val,
        "init": str(init) if init else None,
        "seconds_this_session": round(time.perf_counter() - t0, 1),
        "final": logs,
        "config": vars(cfg),
        "sha256": hash_state_dict(state),
    }
    out.with_name(out.name + ".json").write_text(json.dumps(info, indent=2, default=str))
    return info
