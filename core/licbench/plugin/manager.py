"""Build the plugin manager and the registry from the ``licbench`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pluggy

from licbench.errors import LicbenchError, nearest
from licbench.plugin import hookspecs
from licbench.plugin.registry import Registry
from licbench.settings import Settings

Provenance = dict[str, tuple[str, str]]  # plugin name -> (distribution, version)


def build_plugin_manager(
    extra: dict[str, object] | None = None,
) -> tuple[pluggy.PluginManager, Provenance]:
    """A fresh plugin manager with every installed ``licbench`` entry point loaded.

    ``extra`` registers further plugin objects by name (used by tests and embedding code).
    A plugin implementing a hook that licbench does not define is a one-line error.
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
    _check_pending(pm, provenance)
    return pm, provenance


def _check_pending(pm: pluggy.PluginManager, provenance: Provenance) -> None:
    """pluggy's ``check_pending``, as a one-line error naming the package and the hook."""
    known = [n for n in dir(hookspecs) if n.startswith("register_")]
    for hook_name, caller in vars(pm.hook).items():
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            dist = provenance.get(impl.plugin_name, (impl.plugin_name, ""))[0]
            near = nearest(hook_name, known)
            hint = f"rename it '{near}'" if near else f"use one of {', '.join(known)}"
            raise LicbenchError(
                f"package {dist} ({impl.plugin_name}) implements unknown hook '{hook_name}'; {hint}"
            )
    pm.check_pending()


def build_registry(
    pm: pluggy.PluginManager, provenance: Provenance, settings: Settings | None = None
) -> Registry:
    """Call every register_* hook implementation, recording the distribution behind it;
    the registry carries ``settings`` (default: those of an empty environment) to the
    plugins it builds."""
    kinds: dict[str, type | str] = {kind: base for kind, (_, base) in hookspecs.KINDS.items()}
    registry = Registry(kinds, settings)
    for kind, (hook_name, _) in hookspecs.KINDS.items():
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
                known = sorted(r for k, r in hookspecs.ROLES if k == _kind)
                bad = [r for r in meta.get("roles", ()) if r not in known]
                if bad:
                    raise LicbenchError(
                        f"package {_dist} gives {_kind} '{name}' the unknown role '{bad[0]}'; "
                        f"{_kind} roles: {', '.join(known) or 'none'}"
                    )
                registry.add(_kind, name, target, _dist, _ver, description or "", **meta)

            impl.function(register=register)
    return registry


def load_registry(
    settings: Settings | None = None, extra: dict[str, object] | None = None
) -> Registry:
    """A registry of every installed plugin (and ``extra`` ones), with ``settings`` (by
    default, this process's environment's), built at the edge that needs it (the command
    line, the Python API, a worker process) and passed in from there; there is no
    process-wide registry."""
    return build_registry(*build_plugin_manager(extra), settings or Settings.from_env())
