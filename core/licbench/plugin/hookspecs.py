"""Hook specifications: every plugin kind is added through a register callback.

A plugin module implements any of these with ``@licbench.hookimpl``::

    @hookimpl
    def register_codecs(register):
        register("my-codec", "my_pkg.codec:MyCodec", description="...")

The target is a class (or factory) or a lazy ``"module:attr"`` string that is imported
only when the plugin is used.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "licbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_codecs(register: Register) -> None:
    """Register codecs: classes built as ``cls(quality=q, **params)`` implementing Codec."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: classes implementing Metric."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: classes implementing Dataset."""


@hookspec
def register_attacks(register: Register) -> None:
    """Register test-time or training-time attacks: classes implementing Attack."""


@hookspec
def register_defenses(register: Register) -> None:
    """Register defenses: classes implementing Defense (a defense wraps a codec)."""


@hookspec
def register_triggers(register: Register) -> None:
    """Register backdoor trigger models: ``torch.nn.Module`` classes mapping x to T(x)."""


@hookspec
def register_objectives(register: Register) -> None:
    """Register training objectives: loss-term providers for the shared training loop."""


@hookspec
def register_downstream(register: Register) -> None:
    """Register downstream task models (segmentation, face embedding) used by metrics."""


KIND_HOOKS: dict[str, str] = {
    "codec": "register_codecs",
    "metric": "register_metrics",
    "dataset": "register_datasets",
    "attack": "register_attacks",
    "defense": "register_defenses",
    "trigger": "register_triggers",
    "objective": "register_objectives",
    "downstream": "register_downstream",
}
