"""Built-in executors: ``local`` (this process) and ``ray`` (a Ray cluster)."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl


@hookimpl
def register_executors(register: Register) -> None:
    register(
        "local",
        "licbench_builtin.executors.local:LocalExecutor",
        description="every task in this process, one after another (the default)",
        params="licbench.plugin.params:Params",
        roles=["default"],
    )
    register(
        "ray",
        "licbench_builtin.executors.ray:RayExecutor",
        description="tasks on a Ray cluster, placed by `resources` (pip install 'licbench[ray]')",
        params=f"{__name__}.params:RayParams",
    )
