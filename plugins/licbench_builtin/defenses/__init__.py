"""Built-in defenses. Registered here by name and lazy target: listing them imports no
torch; each description is its class's docstring."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [
    ("gaussian-blur", "licbench_builtin.defenses.preprocess:GaussianBlurDefense"),
    ("bit-squeeze", "licbench_builtin.defenses.preprocess:BitSqueezeDefense"),
    ("jpeg-purify", "licbench_builtin.defenses.preprocess:JpegPurifyDefense"),
    ("two-way", "licbench_builtin.defenses.randomized:TwoWay"),
    ("k-way", "licbench_builtin.defenses.randomized:KWay"),
    ("input-randomization", "licbench_builtin.defenses.randomized:InputRandomization"),
    ("adversarial-finetune", "licbench_builtin.defenses.adv_finetune:AdversarialFinetune"),
]


@hookimpl
def register_defenses(register: Register) -> None:
    for name, target in PLUGINS:
        register(name, target)
