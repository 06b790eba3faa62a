"""Typed plugin registry with lazy ``"module:attr"`` targets, duplicate and did-you-mean errors."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from licbench.errors import DuplicatePluginError, LicbenchError, UnknownPluginError


@dataclass
class PluginEntry:
    """One registered plugin: where it comes from and how to build it."""

    kind: str
    name: str
    target: Any
    dist: str
    version: str
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """Import a lazy ``"module:attr"`` target (once) and return the class or factory."""
        if isinstance(self.target, str):
            module_name, _, attr = self.target.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split(".") if attr else []:
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as exc:
                raise LicbenchError(
                    f"{self.kind} '{self.name}' from {self.dist} points at '{self.target}', "
                    f"which cannot be imported ({exc}); reinstall {self.dist}"
                ) from exc
            self.target = obj
        return self.target

    def create(self, **params: Any) -> Any:
        """Build an instance with ``params``; a bad parameter name is a one-line error."""
        factory = self.load()
        try:
            return factory(**params)
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            raise LicbenchError(
                f"{self.kind} '{self.name}': {exc}; check its params in the manifest"
            ) from exc


class Registry:
    """All plugins by kind and name."""

    def __init__(self, kinds: list[str]) -> None:
        self._entries: dict[str, dict[str, PluginEntry]] = {k: {} for k in kinds}

    @property
    def kinds(self) -> list[str]:
        return list(self._entries)

    def add(self, entry: PluginEntry) -> None:
        table = self._entries[entry.kind]
        if entry.name in table:
            other = table[entry.name]
            raise DuplicatePluginError(
                f"{entry.kind} '{entry.name}' is registered twice, by {other.dist} and by "
                f"{entry.dist}; uninstall one of them or rename the plugin"
            )
        table[entry.name] = entry

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> list[PluginEntry]:
        kinds = [kind] if kind else self.kinds
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._entries.get(kind, {})

    def suggest(self, kind: str, name: str) -> str | None:
        close = difflib.get_close_matches(name, self._entries[kind], n=1, cutoff=0.5)
        return close[0] if close else None

    def get(self, kind: str, name: str) -> PluginEntry:
        try:
            return self._entries[kind][name]
        except KeyError:
            hint = self.suggest(kind, name)
            fix = f"did you mean '{hint}'?" if hint else "run `licbench plugins` to list them"
            raise UnknownPluginError(f"unknown {kind} '{name}': {fix}") from None

    def create(self, kind: str, name: str, **params: Any) -> Any:
        return self.get(kind, name).create(**params)
