"""The grammar of attack budgets, one home for threat models and attack parameters."""

from __future__ import annotations

from typing import Any


def parse_eps(value: Any) -> float:
    """A budget's ε: a number or a fraction such as ``4/255``."""
    if isinstance(value, str) and "/" in value:
        num, den = value.split("/", 1)
        return float(num) / float(den)
    return float(value)
