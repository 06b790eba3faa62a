"""Built-in backdoor: the attack cell (a trained backdoor in the benchmark matrix), its goals
and its trigger models. Registered here by name, lazy target, parameter model and
description, so that listing, validating and `plugins --params` import no torch. (Its
commands register from :mod:`licbench_builtin.backdoor.commands`.)"""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PARAMS = f"{__name__}.params"  # every parameter model of the backdoor, free of torch
GOALS = [  # name, class, Params, description
    ("bpp", "goals:BppGoal", "BppParams",
     "Raise the rate of poisoned images while keeping their reconstruction quality."),
    ("psnr", "goals:PsnrGoal", "PsnrParams",
     "Wreck the reconstruction of poisoned images at a nearly unchanged rate."),
    ("segmentation-targeted", "goals_downstream:SegmentationTargeted", "SegmentationParams",
     "Eq. 11: the source class's pixels decode as the target class, the rest as before."),
    ("face-privacy", "goals_downstream:FacePrivacy", "FaceParams",
     "Eq. 13: the decoded face no longer matches its identity, and stays close to the input."),
]  # fmt: skip
TRIGGERS = [
    ("dct-adaptive", "dct:DCTAdaptiveTrigger", "DCTParams",
     "Yu et al.: adaptive trigger on middle DCT frequencies of each patch"),
    ("lira-unet", "lira:LiraTrigger", "LiraParams", "LIRA: x + eps*tanh(U-Net(x))"),
    ("ftrojan", "fixed:FTrojanTrigger", "FTrojanParams",
     "FTrojan: fixed mid/high DCT coefficients of every 8x8 block"),
]  # fmt: skip


@hookimpl
def register_attacks(register: Register) -> None:
    register(
        "backdoor",
        f"{__name__}.attack:BackdoorAttack",
        description="A trained backdoor (Yu et al. 2023) as an attack cell of the matrix.",
        params=f"{PARAMS}:BackdoorParams",
        codecs="learned",  # it fine-tunes the codec's encoder
        trained=True,
    )


@hookimpl
def register_goals(register: Register) -> None:
    for name, target, params, description in GOALS:
        register(name, f"{__name__}.{target}", description=description, params=f"{PARAMS}:{params}")


@hookimpl
def register_triggers(register: Register) -> None:
    for name, target, params, description in TRIGGERS:
        register(
            name,
            f"{__name__}.triggers.{target}",
            description=description,
            params=f"{PARAMS}:{params}",
        )
