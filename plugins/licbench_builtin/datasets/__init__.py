"""Built-in datasets. Registered here by name and lazy target: listing them imports no
torch; each description is its class's docstring."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [
    ("samples", "licbench_builtin.datasets.images:Samples"),
    ("folder", "licbench_builtin.datasets.images:ImageFolder"),
    ("kodak", "licbench_builtin.datasets.images:Kodak"),
    ("bsds500", "licbench_builtin.datasets.images:Bsds500"),
    ("street-scenes", "licbench_builtin.datasets.images:StreetScenes"),
    ("faces", "licbench_builtin.datasets.images:Faces"),
]

ROLES = {
    "bsds500": {"training": {"split": "trainval"}},  # Yu et al. train on BSDS500 train + val
    "kodak": {"published-curves": {}},  # CompressAI's and the papers' curves are on Kodak
    "samples": {"testing": {}},  # embedded: licbench.testing needs no data folder
}


@hookimpl
def register_datasets(register: Register) -> None:
    for name, target in PLUGINS:
        register(name, target, roles=ROLES.get(name, {}))
