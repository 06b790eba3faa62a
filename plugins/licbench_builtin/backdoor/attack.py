"""`backdoor`: a trained backdoor as an attack cell of the benchmark matrix.

``prepare`` trains the backdoor against the cell's codec (or reuses the cached artifact with
the same content key, or loads ``artifact``) and returns the codec with the backdoored
encoder; ``perturb`` applies one of its triggers (``apply``; ``none`` measures the
backdoored model on clean input). ``bound`` makes the stealth bound exact on every image
(MSE(T(x), x) <= bound², by scaling the change down where needed); ``amplify`` scales the
trigger's change up (Table 6 of Yu et al.: an amplified trigger against pre-processing
defenses).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import Tensor

from licbench.api.codec import Attack, Codec, LearnedCodec, RunContext
from licbench.errors import LicbenchError
from licbench.plugin.hookspecs import hookimpl
from licbench.plugin.manager import get_registry
from licbench_builtin.backdoor.training import (
    Backdoor,
    BackdoorConfig,
    apply_trigger,
    train_backdoor,
)

DEFAULT_TRAIN_DATA = {"name": "bsds500", "params": {"split": "trainval"}}


def load_training_images(ref: Any) -> tuple[list[Tensor], str]:
    """Images and fingerprint of a dataset reference (a DatasetRef or a name/params dict)."""
    if ref is None:
        ref = DEFAULT_TRAIN_DATA
    if not isinstance(ref, dict):
        ref = {"name": ref.name, "params": ref.params}
    ds = get_registry().create("dataset", ref["name"], **ref.get("params", {}))
    return [it.loader() for it in ds.items()], ds.fingerprint()


class BackdoorAttack(Attack):
    name = "backdoor"

    def __init__(
        self,
        triggers: list[dict[str, Any]] | None = None,
        apply: str | None = None,
        amplify: float = 1.0,
        bound: float | None = None,
        artifact: str | None = None,
        train_data: dict[str, Any] | None = None,
        **train: Any,
    ) -> None:
        if artifact is None and not triggers:
            raise LicbenchError("backdoor needs `triggers` (to train) or `artifact` (to load)")
        try:
            self.config = BackdoorConfig(triggers=triggers, **train) if triggers else None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            hint = "docs/backdoors.md lists the parameters"
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                near = difflib.get_close_matches(where, list(BackdoorConfig.model_fields), n=1)
                hint = f"did you mean '{near[0]}'?" if near else hint
            where = f" {where}" if where else ""
            raise LicbenchError(f"backdoor params{where}: {err['msg']} ({hint})") from exc
        self.apply, self.amplify, self.bound = apply, float(amplify), bound
        self.artifact, self.train_data = artifact, train_data
        self.backdoor: Backdoor | None = None

    def prepare(self, codec: Codec, ctx: RunContext) -> Codec:
        if not isinstance(codec, LearnedCodec):
            raise LicbenchError(f"backdoor needs a learned codec; {codec.name} has no encoder")
        if self.artifact:
            path = Path(self.artifact)
        else:
            assert self.config is not None
            images, fp = load_training_images(self.train_data or ctx.train_data)
            path = train_backdoor(
                codec, self.config, images, fp, ctx.cache_dir, device=str(ctx.device)
            )
        self.backdoor = Backdoor(path)
        return self.backdoor.apply(codec)

    @torch.no_grad()
    def perturb(self, codec: Codec, x: Tensor, ctx: RunContext) -> Tensor:
        if self.backdoor is None:
            raise LicbenchError("backdoor.perturb before prepare; the runner calls prepare first")
        if self.apply == "none":
            return x
        trigger, goal = self.backdoor.trigger(self.apply)
        return apply_trigger(trigger.to(x.device), goal, x, bound=self.bound, amplify=self.amplify)


@hookimpl
def register_attacks(register: Any) -> None:
    register("backdoor", f"{__name__}:BackdoorAttack", description=__doc__.split("\n")[0])
