"""Content hashes and version stamps that make a result row reproducible."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # hashing keys and seeds needs no torch (validate)
    import torch


def hash_json(obj: Any) -> str:
    """SHA-256 of the canonical JSON form of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


SEEDING = "sha256-60"  # how seeds are derived (part of every cell key): results change with it


def derive_seed(*parts: Any) -> int:
    """The one seed derivation: 60 bits of the SHA-256 of ``parts`` (valid for torch,
    Python's ``random`` and, modulo 2**32, numpy)."""
    return int(hash_json(list(parts))[:15], 16)


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of files, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def hash_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the names and raw bytes of a state dict's tensors."""
    import torch

    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def package_versions(names: Iterable[str] = ()) -> dict[str, str]:
    """Versions of Python, torch, compressai, licbench and the given distributions."""
    out = {"python": platform.python_version()}
    for name in ["licbench", "torch", "compressai", "numpy", "pillow", *names]:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = ""
    return out


def code_commit() -> str | None:
    """The git commit of the licbench source tree this runs from (``+dirty`` with local
    changes), or None outside a git checkout. Recorded with each run, never in keys."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")
