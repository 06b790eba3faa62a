"""Hook specifications: every plugin kind is added through a register callback.

A plugin module implements any of these with ``@licbench.hookimpl``::

    @hookimpl
    def register_codecs(register):
        register("my-codec", "my_pkg.codec:MyCodec", description="...")

The target is a class or a lazy ``"module:Class"`` string, imported only when the plugin is
used; it must subclass its kind's base class (:data:`KINDS`) and declare a ``Params``
model. ``register_commands`` adds subcommands to the ``licbench`` command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pluggy

PROJECT = "licbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_codecs(register: Register) -> None:
    """Register codecs: subclasses of ``licbench.api.codec.Codec``."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: subclasses of ``licbench.api.metric.Metric``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: subclasses of ``licbench.api.dataset.Dataset``."""


@hookspec
def register_attacks(register: Register) -> None:
    """Register attacks: subclasses of ``licbench.api.attack.Attack``."""


@hookspec
def register_defenses(register: Register) -> None:
    """Register defenses: subclasses of ``licbench.api.defense.Defense``."""


@hookspec
def register_triggers(register: Register) -> None:
    """Register backdoor trigger models: subclasses of ``licbench.api.backdoor.Trigger``."""


@hookspec
def register_goals(register: Register) -> None:
    """Register backdoor goals: subclasses of ``licbench.api.backdoor.BackdoorGoal``."""


@hookspec
def register_downstream(register: Register) -> None:
    """Register downstream task models: ``licbench.api.downstream.DownstreamModel`` subclasses."""


@hookspec
def register_executors(register: Register) -> None:
    """Register executors: subclasses of ``licbench.api.executor.Executor``."""


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``licbench`` subcommands: ``p = subparsers.add_parser(...)``, then
    ``p.set_defaults(func=handler)`` where ``handler(args) -> int`` is the exit status."""


# The roles core asks plugins for (never a built-in's name): ``register(name, target,
# roles=[...])``, or ``roles={role: params}`` where the role takes params. Each role of a kind
# is declared by exactly one installed plugin.
ROLES: dict[tuple[str, str], str] = {
    ("codec", "anchor"): "BD-rates are measured against it where a manifest names no anchor",
    ("dataset", "training"): "trained artifacts train on it where nothing else is named",
    ("dataset", "published-curves"): "the published reference curves were measured on it",
    ("executor", "default"): "runs tasks when no --executor is given",
    ("codec", "testing"): "the tiny real codec licbench.testing checks plugins on",
    ("dataset", "testing"): "the image licbench.testing checks plugins on (first, cropped)",
    ("metric", "default"): "scored where a manifest lists no metrics (several, in order)",
    ("metric", "timing"): "a wall-clock time: never compared when a bundle is verified",
    ("attack", "white-box"): "the standard set's white-box attack (restarts, EoT, proxies)",
    ("attack", "transfer"): "the standard set's attack made on the bare codec, transferred",
    ("attack", "gradient-free"): "the standard set's query attack on real bitstreams",
    ("attack", "noise"): "the audit's random noise of the budget's size",
}

# kind -> (hook, base class every plugin of the kind must subclass)
KINDS: dict[str, tuple[str, str]] = {
    "codec": ("register_codecs", "licbench.api.codec:Codec"),
    "metric": ("register_metrics", "licbench.api.metric:Metric"),
    "dataset": ("register_datasets", "licbench.api.dataset:Dataset"),
    "attack": ("register_attacks", "licbench.api.attack:Attack"),
    "defense": ("register_defenses", "licbench.api.defense:Defense"),
    "trigger": ("register_triggers", "licbench.api.backdoor:Trigger"),
    "goal": ("register_goals", "licbench.api.backdoor:BackdoorGoal"),
    "downstream": ("register_downstream", "licbench.api.downstream:DownstreamModel"),
    "executor": ("register_executors", "licbench.api.executor:Executor"),
}
