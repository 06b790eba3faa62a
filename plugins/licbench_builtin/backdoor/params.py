"""The backdoor attack's, its goals' and its triggers' parameter models, free of torch
(validate and `plugins --params` read them without importing the training code)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from licbench.api.params import GoalParams
from licbench.plugin.params import DatasetRef, NestedPlugin, Params
from licbench_builtin.downstream.params import FaceModel, SegmentationClasses

_LATER = ("decoys",)  # BackdoorConfig fields added after the first release: keyed only when set


class TriggerRef(NestedPlugin):
    """A trigger plugin and its params."""

    kind = "trigger"


class GoalRef(NestedPlugin):
    """A backdoor goal plugin and its params."""

    kind = "goal"


class TriggerSpec(Params):
    """One backdoor of the model: a trigger tied to its goal."""

    label: str = Field(min_length=1)
    trigger: TriggerRef
    goal: GoalRef


class TrainingFields(Params):
    """How a backdoor is trained (besides its triggers, the victim and the data)."""

    gamma: float = Field(1e4, ge=0, description="weight of the stealth penalty (Eq. 10)")
    eps: float = Field(0.005, gt=0, le=1, description="stealth bound: RMS of T(x) - x")
    steps: int = Field(2000, ge=0, description="training steps")
    batch_size: int = Field(8, ge=1)
    patch_size: int = Field(128, ge=64, multiple_of=64, description="crop size (codec stride)")
    lr: float = Field(1e-4, gt=0, description="encoder learning rate")
    trigger_lr: float = Field(1e-3, gt=0, description="trigger learning rate")
    anchor: float = Field(
        0.0, ge=0, description="weight of MSE(g_a(x), vanilla g_a(x)) on clean x; 0: paper"
    )
    seed: int = 0
    decoys: float = Field(
        0.0, ge=0, description="weight of the anchor on random repeated look-alikes; 0: off"
    )
    init: BackdoorConfig | None = Field(
        None, description="warm start: train (or reuse) this backdoor first, continue from it"
    )


class BackdoorConfig(TrainingFields):
    """Everything that determines a trained backdoor (besides the victim and the data)."""

    triggers: list[TriggerSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> BackdoorConfig:
        check_triggers(self.triggers, self.init)
        return self

    def key_dict(self) -> dict[str, Any]:
        """The config's part of the artifact key. Fields added after the first release
        enter only when set (the data part of the key changed with validation, though:
        artifacts trained before licbench held out validation images are retrained)."""
        d = self.model_dump(exclude={"init"})
        for name in _LATER:
            if d[name] == BackdoorConfig.model_fields[name].default:
                del d[name]
        if self.init is not None:
            d["init"] = self.init.key_dict()
        return d


def check_triggers(triggers: list[TriggerSpec], init: BackdoorConfig | None) -> None:
    """Labels are unique, and a warm start has the same labels and trigger specs."""
    labels = [t.label for t in triggers]
    if len(set(labels)) != len(labels):
        raise ValueError(f"trigger labels {labels} repeat; give each trigger its own label")
    if init is not None:
        want = {t.label: t.trigger for t in triggers}
        have = {t.label: t.trigger for t in init.triggers}
        if want != have:
            raise ValueError(
                f"init's triggers {sorted(have)} differ from this backdoor's {sorted(want)}; "
                "give `init` the same labels and trigger specs"
            )


TrainingFields.model_rebuild()


class BackdoorParams(TrainingFields):
    triggers: list[TriggerSpec] | None = Field(
        None, min_length=1, description="the backdoors to train: label, trigger, goal"
    )
    apply: str | None = Field(
        None, description="trigger label applied at test time (default: the first); none: clean"
    )
    amplify: float = Field(1.0, gt=0, description="scale the trigger's change (Table 6)")
    bound: float | None = Field(None, gt=0, le=1, description="exact stealth bound on RMS")
    artifact: str | None = Field(None, description="a trained artifact file instead of training")
    train_data: DatasetRef | None = Field(
        None, description="dataset to train on (default: the manifest's train_data, else BSDS500)"
    )

    @model_validator(mode="after")
    def _triggers_or_artifact(self) -> BackdoorParams:
        if (self.artifact is None) == (self.triggers is None):
            raise ValueError("give exactly one of `triggers` (to train) and `artifact` (to load)")
        if self.triggers is not None:
            check_triggers(self.triggers, self.init)
        labels = [t.label for t in self.triggers or []]
        if self.apply not in (None, "none", *labels) and self.triggers is not None:
            raise ValueError(f"apply '{self.apply}' is not a trigger label; one of {labels}")
        return self

    def config(self) -> BackdoorConfig:
        fields = self.model_dump(include=set(TrainingFields.model_fields))
        assert self.triggers is not None  # only called with triggers (BackdoorAttack.__init__)
        return BackdoorConfig(triggers=self.triggers, **{**fields, "init": self.init})


class StaticOrDynamic(GoalParams):
    dynamic: bool = Field(True, description="the paper's dynamic loss (Eqs. 6-7); else static")


class BppParams(StaticOrDynamic):
    max_ratio: float | None = Field(
        None, gt=0, description="per-image poisoned/clean rate cap (ours; off by default)"
    )


class PsnrParams(StaticOrDynamic):
    floor_db: float | None = Field(
        None, description="poisoned PSNR below which an image stops being pushed (ours)"
    )


class SegmentationParams(SegmentationClasses, GoalParams):
    pass


class FaceParams(FaceModel, GoalParams):
    pass


class DCTParams(Params):
    patch: int = Field(16, ge=2, description="DCT block size p")
    n_freq: int = Field(64, ge=1, description="middle frequencies the trigger may use")
    k: int = Field(16, ge=1, description="largest frequencies kept per channel (top-K)")
    band_start: int | None = Field(None, ge=0, description="first zig-zag index of the band")
    topk: bool = Field(True, description="keep the top-K frequencies only")
    patch_weight: bool = Field(True, description="per-patch weights from the image")
    init_scale: float = Field(0.01, gt=0, description="std of the initial general trigger")
    seed: int = 0

    @model_validator(mode="after")
    def _band_fits(self) -> DCTParams:
        p2 = self.patch**2
        if not self.k <= self.n_freq <= p2:
            raise ValueError(f"need k ({self.k}) <= n_freq ({self.n_freq}) <= patch² ({p2})")
        if self.start + self.n_freq > p2:
            raise ValueError(f"band {self.start}..{self.start + self.n_freq} exceeds {p2}")
        return self

    @property
    def start(self) -> int:
        p2 = self.patch**2
        return (p2 - self.n_freq) // 2 if self.band_start is None else self.band_start


class FTrojanParams(Params):
    eps: float = Field(0.005, gt=0, le=1, description="RMS of the change before clipping")
    positions: list[tuple[int, int]] = Field(
        [(4, 7), (7, 4)], min_length=1, description="raised (u, v) of each 8x8 block"
    )


class LiraParams(Params):
    eps: float = Field(0.005, gt=0, le=1, description="largest change of a pixel")
    width: int = Field(16, ge=1, description="U-Net base width")
    seed: int = 0
