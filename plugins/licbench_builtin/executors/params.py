"""The built-in executors' parameter models, free of torch and Ray."""

from __future__ import annotations

from pydantic import Field

from licbench.plugin.params import Params


class RayParams(Params):
    address: str | None = Field(
        None, description="auto, HOST:PORT or ray://HOST:PORT; none starts a local Ray"
    )
    retries: int = Field(3, ge=0, description="re-runs of a task whose worker died")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray started here")
