"""Built-in adversarial attacks. Registered here by name and lazy target: listing them imports no
torch; each description is its class's docstring."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [
    ("pgd", "licbench_builtin.attacks.gradient:PGD"),
    ("fgsm", "licbench_builtin.attacks.gradient:FGSM"),
    ("eot", "licbench_builtin.attacks.gradient:EoT"),
    ("fda", "licbench_builtin.attacks.gradient:FDA"),
    ("apgd", "licbench_builtin.attacks.apgd:APGD"),
    ("square", "licbench_builtin.attacks.square:Square"),
    ("random-noise", "licbench_builtin.attacks.square:RandomNoise"),
    ("kway-adaptive", "licbench_builtin.attacks.decision:DecisionAttack"),
]

ROLES = {  # what core's standard set and audit ask for
    "apgd": ["white-box"],
    "pgd": ["transfer"],
    "square": ["gradient-free"],
    "random-noise": ["noise"],
}


@hookimpl
def register_attacks(register: Register) -> None:
    for name, target in PLUGINS:
        register(name, target, roles=ROLES.get(name, []))
