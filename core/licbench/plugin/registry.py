"""Typed plugin registry: lazy ``"module:Class"`` targets, a base class per kind, typed
parameters, and duplicate and did-you-mean errors (after lm-evaluation-harness)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from licbench.errors import (
    DuplicatePluginError,
    LicbenchError,
    ParamsError,
    UnknownPluginError,
    nearest,
)
from licbench.plugin.params import Params, describe_error, dotted
from licbench.settings import Settings

Roles = dict[str, dict[str, Any]] | list[str] | tuple[str, ...]

# facts a registration may declare (``learned=True``), so that validate and dry runs read them
# without importing the plugin: the contract whose subclasses have them
TRAITS = {"learned": "licbench.api.codec:LearnedCodec", "trained": "licbench.api.artifact:Trained"}


def import_target(target: str) -> Any:
    """``"package.module:Attr.attr"`` -> the object it names."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


class UsesRegistry:
    """A plugin that builds other plugins (a goal its downstream model, a trained attack its
    training data), or reads the settings (a dataset its folder, a downstream model its
    weights), finds them in ``self.registry``: the registry that creates it binds itself
    there before the plugin's ``__init__`` runs. None is global: two registries never share
    a plugin instance."""

    _registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise LicbenchError(
                f"{type(self).__name__} needs the registry that builds it: create it with "
                "registry.create(kind, name, ...) (licbench.load_registry()), which binds it"
            )
        return self._registry

    def bind(self, registry: Registry) -> UsesRegistry:
        self._registry = registry
        return self


@dataclass
class PluginEntry:
    """One registered plugin: where it comes from and how to build it."""

    kind: str
    name: str
    target: Any
    dist: str
    version: str
    base: type | str  # the kind's base class, or its lazy "module:Class" target
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    registry: Registry | None = field(default=None, repr=False, compare=False)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: type | str | None = None  # the Params model, or its lazy target, if registered

    @property
    def text(self) -> str:
        """The description given at registration, else the class's docstring (which
        imports the plugin)."""
        return self.description or (self.load().__doc__ or "")

    def load(self) -> type:
        """Import a lazy target (once), check its base class and ``Params``; return the class."""
        if isinstance(self.target, str):
            target = self._import(self.target)
            self.check(target)
            self.target = target
        return self.target  # type: ignore[no-any-return]

    def _import(self, target: str) -> Any:
        try:
            return import_target(target)
        except (ImportError, AttributeError) as exc:
            raise LicbenchError(
                f"{self.kind} '{self.name}' from {self.dist} points at '{target}', "
                f"which cannot be imported ({exc}); reinstall {self.dist}"
            ) from exc

    def trait(self, key: str) -> bool:
        """A fact of :data:`TRAITS` as registered (``key=``), else from the class."""
        if key in self.meta:
            return bool(self.meta[key])
        return issubclass(self.load(), import_target(TRAITS[key]))

    @property
    def learned(self) -> bool:
        """A codec with a differentiable model (``learned=True`` at registration)."""
        return self.trait("learned")

    @property
    def trained(self) -> bool:
        """An attack or defense that trains an artifact (``trained=True`` at registration)."""
        return self.trait("trained")

    def applies_to(self, codec: PluginEntry) -> bool:
        """Whether cells of this attack or defense on ``codec`` exist: as registered
        (``codecs="learned"``: learned codecs only), else its class's ``applies_to``."""
        if "codecs" in self.meta:
            return self.meta["codecs"] != "learned" or codec.learned
        return bool(self.load().applies_to(codec.load()))  # type: ignore[attr-defined]

    def check(self, t: Any) -> None:
        """``t`` subclasses the kind's base class and has a pydantic ``Params`` model."""
        if isinstance(self.base, str):
            self.base = import_target(self.base)
        assert isinstance(self.base, type)
        if not (isinstance(t, type) and issubclass(t, self.base)):
            raise LicbenchError(
                f"{self.kind} '{self.name}' registered by {self.dist} is {t!r}, not a subclass "
                f"of {self.base.__module__}.{self.base.__name__}; fix the plugin in {self.dist}"
            )
        params = getattr(t, "Params", None)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise LicbenchError(
                f"{self.kind} '{self.name}' registered by {self.dist} has no pydantic `Params` "
                f"model; declare one (see docs/plugins.md)"
            )
        if not issubclass(params, Params):  # a plain BaseModel would ignore unknown keys
            raise LicbenchError(
                f"{self.kind} '{self.name}' registered by {self.dist}: its `Params` is not a "
                "licbench.plugin.params.Params (which refuses unknown keys); subclass that"
            )
        self._check_registered(t)

    def _check_registered(self, t: type) -> None:
        """What the registration declares (read without importing the class) is the class's."""
        wrong, given = [], self.params
        if given is not None and self.declared_params() is not getattr(t, "Params", None):
            wrong.append(f"params={given!r} is not its class's Params")
        for key, contract in TRAITS.items():
            if key in self.meta and bool(self.meta[key]) != issubclass(t, import_target(contract)):
                wrong.append(f"{key}={self.meta[key]!r} does not match its class")
        if "codecs" in self.meta:
            default = import_target("licbench.api.codec:CellPlugin").applies_to.__func__
            if getattr(getattr(t, "applies_to", None), "__func__", None) is not default:
                wrong.append("it declares codecs= and also overrides applies_to")
        if wrong:
            raise LicbenchError(
                f"{self.kind} '{self.name}' registered by {self.dist}: {'; '.join(wrong)}; "
                f"fix its registration in {self.dist}"
            )

    def declared_params(self) -> type[Params]:
        """The registered Params model (its lazy target imported once, checked)."""
        if isinstance(self.params, str):
            model = self._import(self.params)
            if not (isinstance(model, type) and issubclass(model, Params)):
                raise LicbenchError(
                    f"{self.kind} '{self.name}' registered by {self.dist}: params="
                    f"{self.params!r} is not a licbench.plugin.params.Params; fix the plugin"
                )
            self.params = model
        assert isinstance(self.params, type)
        return self.params

    @property
    def params_model(self) -> type[Params]:
        """The registered Params model (no import of the plugin), else its class's."""
        if self.params is not None:
            return self.declared_params()
        return self.load().Params  # type: ignore[attr-defined,no-any-return]

    def validate(self, params: dict[str, Any]) -> Params:
        """``params`` checked against the plugin's model; a bad one is a one-line error.
        Validators find the registry in their context (``info.context["registry"]``)."""
        model = self.params_model
        try:
            return model.model_validate(params, context={"registry": self.registry})
        except ValidationError as exc:
            loc, msg = describe_error(model, exc)
            where = f" {dotted(loc)}" if loc else ""
            text = f"{self.kind} '{self.name}' params{where}: {msg}"
            raise ParamsError(text, loc, msg) from None

    def create(self, **params: Any) -> Any:
        """Validate ``params``, then build the plugin from them; a :class:`UsesRegistry` one
        is bound to this entry's registry first, so that its ``__init__`` finds it."""
        self.validate(params)
        cls = self.load()
        if not issubclass(cls, UsesRegistry) or self.registry is None:
            return cls(**params)
        built = cls.__new__(cls)
        built.bind(self.registry)
        cls.__init__(built, **params)
        return built


class Registry:
    """All plugins by kind and name, and the settings of the edge that built it (a plugin
    bound to the registry finds them in ``self.registry.settings``)."""

    def __init__(self, kinds: dict[str, type | str], settings: Settings | None = None) -> None:
        """``kinds``: each kind's base class, or its lazy ``"module:Class"`` target;
        ``settings``: default, those of an empty environment."""
        self.settings = settings or Settings()
        self._bases = dict(kinds)
        self._entries: dict[str, dict[str, PluginEntry]] = {k: {} for k in kinds}

    @property
    def kinds(self) -> list[str]:
        return list(self._entries)

    def add(
        self,
        kind: str,
        name: str,
        target: Any,
        dist: str,
        version: str = "",
        description: str = "",
        roles: Roles = (),
        params: type | str | None = None,
        **meta: Any,
    ) -> PluginEntry:
        """Register ``target`` as ``kind`` ``name``; a class target is checked at once.
        ``roles``: what core may ask this plugin for (:meth:`role`), each with the params it
        takes in that role (a list of roles takes none). ``params`` (its Params model, or a
        lazy target) and ``learned``, ``trained`` and ``codecs`` in ``meta`` let validate and
        dry runs check and count cells without importing the plugin (checked on import)."""
        if meta.get("codecs", "any") not in ("any", "learned"):
            raise LicbenchError(
                f"package {dist} registers {kind} '{name}' with codecs={meta['codecs']!r}; "
                "give 'any' or 'learned'"
            )
        base = self._bases[kind]
        entry = PluginEntry(kind, name, target, dist, version, base, description, meta, self)
        entry.params = params
        entry.roles = dict(roles) if isinstance(roles, dict) else {r: {} for r in roles}
        table = self._entries[kind]
        for role in entry.roles:  # a role belongs to one package (its plugins may share it)
            other = next((e for e in table.values() if role in e.roles and e.dist != dist), None)
            if other is not None:
                raise DuplicatePluginError(
                    f"the {kind} role '{role}' is declared by {other.dist} ('{other.name}') "
                    f"and by {dist} ('{name}'); uninstall one of them"
                )
        if name in table:
            other = table[name]
            raise DuplicatePluginError(
                f"{kind} '{name}' is registered twice, by {other.dist} and by {dist}; "
                "uninstall one of them or rename the plugin"
            )
        if not isinstance(target, str):
            entry.check(target)
        table[name] = entry
        return entry

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> list[PluginEntry]:
        kinds = [kind] if kind else self.kinds
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._entries.get(kind, {})

    def suggest(self, kind: str, name: str) -> str | None:
        return nearest(name, self._entries[kind])

    def get(self, kind: str, name: str) -> PluginEntry:
        try:
            return self._entries[kind][name]
        except KeyError:
            hint = self.suggest(kind, name)
            fix = f"did you mean '{hint}'?" if hint else "run `licbench plugins` to list them"
            raise UnknownPluginError(f"unknown {kind} '{name}': {fix}") from None

    def role(self, kind: str, role: str) -> PluginEntry:
        """The one plugin of ``kind`` that declares ``role`` (core asks for roles, never for
        a built-in's name)."""
        found = [e for e in self._entries[kind].values() if role in e.roles]
        if len(found) != 1:
            who = ", ".join(f"'{e.name}' ({e.dist})" for e in found) or "none"
            raise LicbenchError(
                f"the {kind} role '{role}' needs exactly one plugin, found {who}; "
                "install the built-ins (pip install licbench) or uninstall one of them"
            )
        return found[0]

    def with_role(self, kind: str, role: str) -> list[str]:
        """Every plugin of ``kind`` in ``role`` (a role several share), in registration order."""
        return [e.name for e in self._entries[kind].values() if role in e.roles]

    def role_ref(self, kind: str, role: str) -> dict[str, Any]:
        """``{"name", "params"}`` of the plugin in ``role``, with the params of that role."""
        entry = self.role(kind, role)
        return {"name": entry.name, "params": dict(entry.roles[role])}

    def find(self, name: str) -> list[PluginEntry]:
        """Every plugin called ``name``, of any kind."""
        return [t[name] for t in self._entries.values() if name in t]

    def create(self, kind: str, name: str, **params: Any) -> Any:
        return self.get(kind, name).create(**params)
