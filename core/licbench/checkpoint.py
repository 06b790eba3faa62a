"""Reading model checkpoints safely: tensors only (``weights_only=True``), never code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from licbench.errors import LicbenchError


def load_tensors(path: Path, what: str, fix: str) -> Any:
    """``torch.load`` of tensors and plain containers only (``weights_only=True``: a crafted
    file cannot run code); an unreadable file is a one-line error saying ``fix``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LicbenchError(f"{path}: not a readable {what} ({type(exc).__name__}); {fix}") from exc


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A CompressAI state dict from a checkpoint file (plain or wrapped training format)."""
    if not path.is_file():
        raise LicbenchError(f"checkpoint {path} not found; check the path in the manifest or CLI")
    fix = "pass a state dict saved by torch.save or compressai's update_model"
    ckpt = load_tensors(path, "PyTorch checkpoint", fix)
    for key in ("network", "state_dict", "model_state_dict"):
        if isinstance(ckpt, dict) and key in ckpt:
            ckpt = ckpt[key]
    if not isinstance(ckpt, dict):
        raise LicbenchError(f"{path}: holds no state dict; pass a CompressAI-format checkpoint")
    return ckpt
