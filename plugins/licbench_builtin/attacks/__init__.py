"""Built-in adversarial attacks. Registered here by name, lazy target, parameter model and
description, so that listing, validating and `plugins --params` import no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [  # name, class, its Params in the torch-free params module, description
    ("pgd", "gradient:PGD", "GradientParams",
     "Projected gradient descent (Madry et al.), L∞, on rate, distortion or both."),
    ("fgsm", "gradient:FGSM", "FGSMParams",
     "One signed-gradient step of size ε (Goodfellow et al.)."),
    ("eot", "gradient:EoT", "EoTParams",
     "PGD averaged over the defense's transform distribution (Athalye et al.), white-box."),
    ("fda", "gradient:FDA", "FDAParams",
     "Feature disruptive attack (Ganeshan et al.) on the encoder's intermediate features."),
    ("apgd", "apgd:APGD", "ApgdParams",
     "Auto-PGD with restarts (Croce & Hein 2020), white-box through the defense."),
    ("square", "square:Square", "SquareParams",
     "Square Attack (Andriushchenko et al. 2020), L∞, gradient-free, on the real bitstream."),
    ("random-noise", "square:RandomNoise", "NoiseParams",
     "±ε at random per pixel and channel: an attack's budget spent without an attack."),
    ("kway-adaptive", "decision:DecisionAttack", "DecisionParams",
     "Adaptive attack on two-way / K-way compression through their decision."),
]  # fmt: skip
QUERY = {"square", "random-noise"}  # the others differentiate through a learned codec

ROLES = {  # what core's standard set and audit ask for
    "apgd": ["white-box"],
    "pgd": ["transfer"],
    "square": ["gradient-free"],
    "random-noise": ["noise"],
}


@hookimpl
def register_attacks(register: Register) -> None:
    for name, target, params, description in PLUGINS:
        register(
            name,
            f"{__name__}.{target}",
            description=description,
            params=f"{__name__}.params:{params}",
            codecs="any" if name in QUERY else "learned",
            trained=False,
            roles=ROLES.get(name, []),
        )
