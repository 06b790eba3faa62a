"""Quantization names the contracts share, free of torch (manifests, parameter models and
cell keys name them without importing the codec stack): how a gradient attack differentiates
the codec's quantization, and the grid attacked inputs are delivered on."""

from __future__ import annotations

from typing import Literal

Proxy = Literal["noise", "ste", "none"]
PROXIES: tuple[Proxy, ...] = ("noise", "ste", "none")

DELIVERY = "uint8"  # attacked inputs are delivered as 8-bit images (part of cell keys)
