"""`adversarial-finetune`: fine-tune the whole codec on clean and adversarial inputs.

The adversarial inputs are FGSM with a random start (Wong et al. 2020, "Fast is better than
free"): δ ~ U(−ε, ε), one signed-gradient step of 1.25·ε on the estimated rate, projected
back to the ε-ball. The loss is the mean of the rate–distortion loss R + λ·255²·MSE on the
clean batch and on its adversarial copy (distortion to the codec's own input), in the shared
training loop. The tuned weights are a CompressAI state dict in the cache, keyed by the
content hash of the settings, the victim's weights and the training data. The prepare
stage trains them once; every cell and ``licbench decompress`` only load them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from licbench.api.artifact import Recipe, Trained
from licbench.api.codec import Codec
from licbench.api.context import RunContext
from licbench.api.defense import FilterDefense, Identity, Transform
from licbench.checkpoint import SAFETENSORS
from licbench.data import training_fingerprints, training_set
from licbench.errors import LicbenchError
from licbench.hashing import hash_json
from licbench.plugin.registry import UsesRegistry
from licbench.rd import bpp_of, lmbda_for, psnr_from_mse
from licbench.train import cache as artifact_cache
from licbench.train.objectives import RateDistortion
from licbench.train.trainer import StepOutput, TrainConfig, Trainer
from licbench_builtin.codecs.compressai import CompressAICodec
from licbench_builtin.defenses.params import FinetuneConfig, FinetuneParams

FAMILY, SUFFIX = "adv-finetune", SAFETENSORS


def fgsm_rs(model: nn.Module, x: Tensor, eps: float, step: float) -> Tensor:
    """FGSM with a random start against the estimated rate (training-mode noise proxy). The
    start is drawn from torch's global RNG, which the training checkpoints save and restore."""
    delta = (torch.rand_like(x) * 2 - 1) * eps
    delta.requires_grad_(True)
    with torch.enable_grad():
        out = model((x + delta).clamp(0, 1))
        (grad,) = torch.autograd.grad(bpp_of(out["likelihoods"], x), delta)
    delta = (delta.detach() + step * grad.sign()).clamp(-eps, eps)
    return (x + delta).clamp(0, 1)


class AdversarialRD(RateDistortion):
    """Mean of the rate–distortion loss on a batch and on its FGSM-RS copy."""

    def __init__(self, lmbda: float, eps: float = 4 / 255) -> None:
        super().__init__(lmbda)
        self.eps = eps

    def step(self, model: nn.Module, x: Tensor) -> StepOutput:
        x_adv = fgsm_rs(model, x, self.eps, 1.25 * self.eps)
        clean, bpp, mse = self.terms(model, x)
        adv, adv_bpp, _ = self.terms(model, x_adv)
        logs = {
            "bpp": float(bpp.detach()),
            "psnr": psnr_from_mse(mse),
            "adv_bpp": float(adv_bpp.detach()),
        }
        return StepOutput({"codec": (clean + adv) / 2}, logs)






class AdversarialFinetune(FilterDefense, Trained, UsesRegistry):
    """Adversarial fine-tuning (FGSM with random start, Wong et al. 2020) of the whole codec."""

    name = "adversarial-finetune"
    Params = FinetuneParams
    params: FinetuneParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.config = FinetuneConfig(**self.params.model_dump(exclude={"train_data"}))
        self.key: str | None = None

    def transform(self) -> Transform:
        return Identity()  # no filter in front of the tuned codec

    def _victim(self, codec: Codec) -> CompressAICodec:
        if not isinstance(codec, CompressAICodec):
            raise LicbenchError(f"{self.name} needs a CompressAI codec, not {codec.name}")
        return codec

    def recipe(self, codec: Codec, ctx: RunContext) -> Recipe:
        data = ctx.training_data(self.params.train_data, self.registry)
        fps = training_fingerprints(data, ctx.val_data, self.registry, ctx.offline)
        victim = self._victim(codec).fingerprint()
        key = hash_json(
            {"config": self.config.model_dump(), "victim": victim, "data": fps,
             "device": ctx.device.type}
        )  # fmt: skip
        return Recipe(FAMILY, key[:16], SUFFIX)

    def train(self, codec: Codec, ctx: RunContext, recipe: Recipe) -> Path:
        victim = self._victim(codec)
        data = ctx.training_data(self.params.train_data, self.registry)
        images, val, _ = training_set(data, ctx.val_data, self.registry)
        model = copy.deepcopy(victim.model).cpu().train()
        cfg, path = self.config, recipe.location(ctx.cache_dir)
        torch.manual_seed(cfg.seed)

        def trainer() -> Trainer:
            tcfg = TrainConfig.finetune(
                cfg.steps, batch_size=cfg.batch_size, patch_size=cfg.patch_size, lr=cfg.lr,
                seed=cfg.seed, device=str(ctx.device),
            )  # fmt: skip
            objective = AdversarialRD(lmbda_for(victim.quality), cfg.eps)
            return Trainer(model, objective, images, tcfg, path, val_images=val)

        def weights(_logs: dict[str, float]) -> dict[str, Tensor]:
            model.update(force=True)  # type: ignore[operator]  # CDF tables for the tuned entropy models
            return model.state_dict()

        info = {"defense": self.spec(), "victim": victim.spec(), "key": recipe.key}
        return artifact_cache.build(path, trainer, weights, info, progress=ctx.progress)

    def load(self, codec: Codec, path: Path) -> Codec:
        victim = self._victim(codec)
        self.key = path.name.removesuffix(SUFFIX)
        return victim.with_model(victim.from_checkpoint(path))

    def spec(self) -> dict[str, Any]:
        out = super().spec()
        if self.key is not None:
            out["artifact"] = {"family": FAMILY, "key": self.key, "suffix": SUFFIX}
        return out
