"""Labels that both sides read: the runs of one attack with several seeds, and the audit's
labels of its attacks."""

from __future__ import annotations

import re

SEED = re.compile(r"^(?P<base>.+)#s(?P<seed>[1-9][0-9]*)$")


def seed_label(label: str, seed: int) -> str:
    """The label of seed ``seed``'s run of an attack labelled ``label`` (seed 0 keeps it)."""
    return f"{label}#s{seed}" if seed else label


def unseeded(label: str) -> str:
    """The attack a seeded run belongs to: ``apgd@rate#s2`` -> ``apgd@rate``."""
    found = SEED.match(label)
    return found["base"] if found else label


ADAPTIVE = "adaptive-{name}"  # the audit's label of a defense's declared adaptive attack
AUDIT = {  # the audit's label of each check's attack: stored labels, part of its cells' keys
    "sweep": "apgd-e{eps:g}",  # the white-box attack at ε = eps/255
    "unbounded": "apgd-unbounded",
    "converged": "apgd-long",
    "transfer": "pgd-transfer",
    "gradient-free": "square",
    "noise": "random-noise",
}
