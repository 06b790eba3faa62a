"""`adversarial-finetune`: fine-tune the whole codec on clean and adversarial inputs.

The adversarial inputs are FGSM with a random start (Wong et al. 2020, "Fast is better than
free"): δ ~ U(−ε, ε), one signed-gradient step of 1.25·ε on the estimated rate, projected
back to the ε-ball. The loss is the mean of the rate–distortion loss R + λ·255²·MSE on the
clean batch and on its adversarial copy (distortion to the codec's own input), in the shared
training loop. The tuned weights are a CompressAI state dict in the cache, keyed by the
content hash of the settings, the victim's weights and the training data, so every cell (and
``licbench decompress``) reuses them.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from licbench.api.codec import Codec, LearnedCodec, RunContext
from licbench.api.defense import DefendedCodec, Identity
from licbench.errors import LicbenchError
from licbench.hashing import hash_json
from licbench.paths import cache_dir
from licbench.plugin.hookspecs import hookimpl
from licbench.train.objectives import RateDistortion, bpp_of, lmbda_for
from licbench.train.trainer import StepOutput, TrainConfig, Trainer
from licbench_builtin.backdoor.attack import load_training_images
from licbench_builtin.codecs.compressai import CompressAICodec
from licbench_builtin.defenses.preprocess import PreprocessDefense

log = logging.getLogger("licbench")


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
            "psnr": -10 * math.log10(max(float(mse.detach()), 1e-12)),
            "adv_bpp": float(adv_bpp.detach()),
        }
        return StepOutput({"codec": (clean + adv) / 2}, logs)


class FinetuneConfig(BaseModel):
    """Everything that determines the tuned weights (besides the victim and the data)."""

    model_config = ConfigDict(extra="forbid")
    eps: float = 4 / 255
    steps: int = 1000
    batch_size: int = 8
    patch_size: int = 128
    lr: float = 1e-5
    seed: int = 0


def finetune(
    codec: LearnedCodec,
    cfg: FinetuneConfig,
    images: list[Tensor],
    data_fp: str,
    cache: Path,
    device: str = "cpu",
) -> Path:
    """Train (or resume, or reuse) the adversarially fine-tuned weights; return their path."""
    key = hash_json({"config": cfg.model_dump(), "victim": codec.fingerprint(), "data": data_fp})
    path = Path(cache) / "adv-finetune" / f"{key[:16]}.pth.tar"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(codec.model).cpu().train()
    torch.manual_seed(cfg.seed)
    tcfg = TrainConfig.finetune(
        cfg.steps,
        batch_size=cfg.batch_size,
        patch_size=cfg.patch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        device=device,
    )
    objective = AdversarialRD(lmbda_for(codec.quality), cfg.eps)
    trainer = Trainer(model, objective, images, tcfg, path)

    def weights(_logs: dict[str, float]) -> dict[str, Tensor]:
        model.update(force=True)  # CDF tables for the tuned entropy models
        return model.state_dict()

    return trainer.fit_to(path, weights)


class AdversarialFinetune(PreprocessDefense):
    """Adversarial fine-tuning (FGSM with random start, Wong et al. 2020) of the whole codec."""

    name = "adversarial-finetune"

    def __init__(self, train_data: dict[str, Any] | None = None, **train: Any) -> None:
        self.config = FinetuneConfig(**train)
        self.train_data = train_data
        # no filter in front of the tuned codec: the identity transform
        super().__init__(Identity(), **self.config.model_dump(), train_data=train_data)

    def wrap(self, codec: Codec, ctx: RunContext | None = None) -> Codec:
        """The tuned codec; ``ctx`` is None when `licbench decompress` rebuilds it."""
        if not isinstance(codec, CompressAICodec):
            raise LicbenchError(f"{self.name} needs a CompressAI codec, not {codec.name}")
        images, fp = load_training_images(self.train_data or (ctx and ctx.train_data))
        cache, device = (ctx.cache_dir, str(ctx.device)) if ctx else (cache_dir(), "cpu")
        path = finetune(codec, self.config, images, fp, cache, device)
        tuned = copy.copy(codec)
        tuned.model = codec._from_checkpoint(path).to(codec.device).eval()
        tuned._fingerprint = None
        log.info("%s: tuned weights %s", self.name, path)
        return DefendedCodec(tuned, self)


@hookimpl
def register_objectives(register: Any) -> None:
    register("adversarial-rd", f"{__name__}:AdversarialRD", description=AdversarialRD.__doc__)


@hookimpl
def register_defenses(register: Any) -> None:
    register(
        AdversarialFinetune.name,
        f"{__name__}:AdversarialFinetune",
        description=AdversarialFinetune.__doc__,
    )
