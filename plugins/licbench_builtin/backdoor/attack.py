"""`backdoor`: a trained backdoor as an attack cell of the benchmark matrix.

The prepare stage trains the backdoor against each codec it meets (once: the artifact is
keyed by its config, the victim's weights and the training data), or takes a trained
``artifact`` file; a cell loads it and runs the codec with the backdoored encoder.
``perturb`` applies one of its triggers (``apply``; ``none`` measures the backdoored model
on clean input). ``bound`` makes the stealth bound exact on every image (MSE(T(x), x) <=
bound², by scaling the change down where needed); ``amplify`` scales the trigger's change
up (Table 6 of Yu et al.: an amplified trigger against pre-processing defenses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from licbench.api.artifact import Recipe, Trained
from licbench.api.attack import Attack
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.context import RunContext
from licbench.data import training_fingerprints, training_set
from licbench.errors import LicbenchError
from licbench.plugin.registry import UsesRegistry
from licbench_builtin.backdoor.params import BackdoorParams
from licbench_builtin.backdoor.training import (
    FORMAT,
    Backdoor,
    apply_trigger,
    artifact_key,
    artifact_path,
    train_backdoor,
)


class BackdoorAttack(Attack, Trained, UsesRegistry):
    """`backdoor`: a trained backdoor as an attack cell of the benchmark matrix."""

    name = "backdoor"
    kind = "backdoor"
    Params = BackdoorParams
    params: BackdoorParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.config = self.params.config() if self.params.triggers else None
        self.backdoor: Backdoor | None = None

    def budget(self) -> None:
        """No L∞ budget: a trigger keeps its own bound (``bound``); delivery only rounds."""
        return None

    def variant(self) -> str:
        """The trigger applied (the first one by default), ``clean`` for none."""
        if self.params.apply == "none":
            return "clean"
        first = self.params.triggers[0].label if self.params.triggers else "default"
        return self.params.apply or first

    def _victim(self, codec: Codec) -> LearnedCodec:
        if not isinstance(codec, LearnedCodec):
            raise LicbenchError(f"backdoor needs a learned codec; {codec.name} has no encoder")
        return codec

    def _data(self, ctx: RunContext) -> Any:
        return ctx.training_data(self.params.train_data, self.registry)

    def recipe(self, codec: Codec, ctx: RunContext) -> Recipe:
        if self.params.artifact:
            path = Path(self.params.artifact)
            return Recipe("backdoors", Backdoor(path, self.registry).key, path=path)
        assert self.config is not None
        fps = training_fingerprints(self._data(ctx), ctx.val_data, self.registry, ctx.offline)
        victim = self._victim(codec)
        key = artifact_key(self.config, victim, fps, ctx.device.type)
        init = self.config.init  # a second phase starts from this backdoor: trained first
        after = (artifact_key(init, victim, fps, ctx.device.type),) if init else ()
        return Recipe("backdoors", key, after=after)

    def train(self, codec: Codec, ctx: RunContext, recipe: Recipe) -> Path:
        if recipe.path is not None:
            return recipe.path
        assert self.config is not None
        images, val, fps = training_set(self._data(ctx), ctx.val_data, self.registry)
        path = train_backdoor(
            self._victim(codec), self.config, images, fps, ctx.cache_dir, self.registry,
            device=str(ctx.device), val_images=val, progress=ctx.progress,
        )  # fmt: skip
        assert path == artifact_path(ctx.cache_dir, recipe.key)
        return path

    def load(self, codec: Codec, path: Path) -> Codec:
        self.backdoor = Backdoor(path, self.registry)
        return self.backdoor.apply(self._victim(codec))

    @torch.no_grad()
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        if self.backdoor is None:
            raise LicbenchError(f"backdoor.perturb before load; the {FORMAT} artifact is needed")
        if self.params.apply == "none":
            return x
        trigger, goal = self.backdoor.trigger(self.params.apply)
        p = self.params
        return apply_trigger(trigger.to(x.device), goal, x, bound=p.bound, amplify=p.amplify)
