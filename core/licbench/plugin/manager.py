"""Build the plugin manager and the registry from the ``licbench`` entry-point group."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

import pluggy

from licbench.errors import LicbenchError
from licbench.plugin import hookspecs
from licbench.plugin.registry import PluginEntry, Registry

Provenance = dict[str, tuple[str, str]]  # plugin name -> (distribution, version)


def build_plugin_manager(
    extra: dict[str, object] | None = None,
) -> tuple[pluggy.PluginManager, Provenance]:
    """A fresh plugin manager with every installed ``licbench`` entry point loaded.

    ``extra`` registers further plugin objects by name (used by tests and embedding code).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    provenance: Provenance = {}
    for ep in entry_points(group=hookspecs.PROJECT):
        dist = ep.dist.metadata["Name"] if ep.dist else "unknown"
        version = ep.dist.version if ep.dist else ""
        name = f"{dist}:{ep.name}"
        if pm.has_plugin(name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise LicbenchError(
                f"plugin '{ep.name}' of package {dist} fails to import ({type(exc).__name__}: "
                f"{exc}); upgrade or uninstall {dist}"
            ) from exc
        pm.register(plugin, name=name)
        provenance[name] = (dist, version)
    for name, plugin in (extra or {}).items():
        pm.register(plugin, name=name)
        provenance[name] = (name, "")
    return pm, provenance


def build_registry(pm: pluggy.PluginManager, provenance: Provenance) -> Registry:
    """Call every register_* hook implementation, recording the distribution behind it."""
    registry = Registry(list(hookspecs.KIND_HOOKS))
    for kind, hook_name in hookspecs.KIND_HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist, version = provenance.get(impl.plugin_name, (impl.plugin_name, ""))

            def register(
                name: str,
                target: Any,
                description: str = "",
                _kind: str = kind,
                _dist: str = dist,
                _ver: str = version,
                **meta: Any,
            ) -> None:
                registry.add(PluginEntry(_kind, name, target, _dist, _ver, description or "", meta))

            impl.function(register=register)
    return registry


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry, built on first use (never at import time)."""
    return build_registry(*build_plugin_manager())


def reset_registry() -> None:
    """Forget the cached registry, e.g. after installing a plugin package."""
    get_registry.cache_clear()
