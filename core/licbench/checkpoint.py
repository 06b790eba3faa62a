"""Reading model checkpoints safely: tensors only (``weights_only=True``), never code."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from licbench.errors import LicbenchError


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A CompressAI state dict from a checkpoint file (plain or wrapped training format)."""
    if not path.is_file():
        raise LicbenchError(f"checkpoint {path} not found; check the path in the manifest or CLI")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LicbenchError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}); "
            "pass a state dict saved by torch.save or compressai's update_model"
        ) from exc
    for key in ("network", "state_dict", "model_state_dict"):
        if isinstance(ckpt, dict) and key in ckpt:
            ckpt = ckpt[key]
    if not isinstance(ckpt, dict):
        raise LicbenchError(f"{path}: holds no state dict; pass a CompressAI-format checkpoint")
    return ckpt
