"""Built-in backdoor: the attack cell (a trained backdoor in the benchmark matrix), its goals
and its trigger models. Registered here by name and lazy target: listing them imports no
torch. (Its commands register from :mod:`licbench_builtin.backdoor.commands`.)"""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

GOALS = [
    ("bpp", "goals:BppGoal"),
    ("psnr", "goals:PsnrGoal"),
    ("segmentation-targeted", "goals_downstream:SegmentationTargeted"),
    ("face-privacy", "goals_downstream:FacePrivacy"),
]
TRIGGERS = [
    (
        "dct-adaptive",
        "dct:DCTAdaptiveTrigger",
        "Yu et al.: adaptive trigger on middle DCT frequencies of each patch",
    ),
    ("lira-unet", "lira:LiraTrigger", "LIRA: x + eps*tanh(U-Net(x))"),
    (
        "ftrojan",
        "fixed:FTrojanTrigger",
        "FTrojan: fixed mid/high DCT coefficients of every 8x8 block",
    ),
]


@hookimpl
def register_attacks(register: Register) -> None:
    register("backdoor", f"{__name__}.attack:BackdoorAttack")


@hookimpl
def register_goals(register: Register) -> None:
    for name, target in GOALS:
        register(name, f"{__name__}.{target}")


@hookimpl
def register_triggers(register: Register) -> None:
    for name, target, description in TRIGGERS:
        register(name, f"{__name__}.triggers.{target}", description=description)
