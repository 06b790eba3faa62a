"""Reading model checkpoints safely: tensors only (``weights_only=True``), never code; and
trained artifacts as safetensors files (tensors plus a JSON tree, nothing executable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from licbench.errors import LicbenchError
from licbench.paths import atomic

SAFETENSORS = ".safetensors"
TREE = "licbench-tree"  # the metadata entry holding an artifact's non-tensor content


def load_tensors(path: Path, what: str, fix: str) -> Any:
    """A ``.safetensors`` artifact (:func:`save_tree`), else ``torch.load`` of tensors and
    plain containers only (``weights_only=True``); a crafted file cannot run code, and an
    unreadable one is a one-line error saying ``fix``."""
    try:
        if Path(path).suffix == SAFETENSORS:
            return load_tree(Path(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LicbenchError(f"{path}: not a readable {what} ({type(exc).__name__}); {fix}") from exc


def _split(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """``obj`` as JSON with each tensor replaced by ``{"tensor": NAME}`` (kept in ``tensors``)."""
    if isinstance(obj, Tensor):
        name = f"t{len(tensors)}"  # never a user's label: names cannot collide
        tensors[name] = obj.detach().cpu().clone()  # safetensors refuses shared storage
        return {"tensor": name}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"{prefix}: artifact keys must be strings")
        return {"dict": {k: _split(v, f"{prefix}/{k}", tensors) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list": [_split(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]}
    return {"value": obj}


def _join(node: Any, tensors: dict[str, Tensor]) -> Any:
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError("malformed artifact tree")
    ((kind, value),) = node.items()
    if kind == "tensor":
        return tensors[value]
    if kind == "dict":
        return {k: _join(v, tensors) for k, v in value.items()}
    if kind == "list":
        return [_join(v, tensors) for v in value]
    if kind == "value":
        return value
    raise ValueError(f"malformed artifact tree node {kind!r}")


def save_tree(obj: Any, path: Path) -> None:
    """Write a nested dict of tensors and JSON values as one safetensors file, atomically."""
    from safetensors.torch import save_file

    tensors: dict[str, Tensor] = {}
    tree = json.dumps(_split(obj, "", tensors), default=str)
    with atomic(path) as tmp:
        save_file(tensors, str(tmp), metadata={TREE: tree})


def load_tree(path: Path) -> Any:
    """What :func:`save_tree` wrote (tensors on the CPU)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        tree = (f.metadata() or {}).get(TREE)
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (no __iter__)
    if tree is None:
        raise ValueError("no licbench tree in its metadata")
    return _join(json.loads(tree), tensors)


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
