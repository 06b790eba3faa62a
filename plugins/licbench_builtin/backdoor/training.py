"""Backdoor injection (Yu et al., CVPR 2023): encoder-only fine-tuning with trigger models.

:class:`BackdoorObjective` plugs into the shared training loop: the encoder g_a is one
parameter group and every trainable trigger another. The encoder minimises the clean
rate-distortion loss plus Σ α_o·L_o over its (trigger, goal) pairs (Eq. 9); each trigger
minimises its own L_o plus the stealth penalty γ·max(MSE(x, T(x)), ε²) (Eqs. 3, 10). The
entropy model and the decoder belong to no group, so they stay bit-for-bit unchanged.

A trained backdoor is one artifact file (encoder weights, trigger weights and the config
that made them) stored under the cache, keyed by the content hash of that config, the
victim's weights and the training data, so every benchmark cell reuses it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.backdoor import BackdoorGoal, Pass, Trigger
from licbench.api.codec import LearnedCodec
from licbench.checkpoint import SAFETENSORS, load_tensors
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.plugin.registry import Registry
from licbench.rd import lmbda_for, psnr_from_mse, rd_loss
from licbench.train import cache as artifact_cache
from licbench.train.trainer import Objective, StepOutput, TrainConfig, Trainer
from licbench_builtin.backdoor.params import (
    BackdoorConfig,
)

log = logging.getLogger("licbench")
FORMAT = "licbench-backdoor/2"  # 2: a safetensors file















class BackdoorObjective(Objective):
    """Encoder + triggers, each with its own loss (Eqs. 3, 9, 10)."""

    def __init__(
        self,
        lmbda: float,
        pairs: dict[str, tuple[Trigger, BackdoorGoal]],
        gamma: float = 1e4,
        eps: float = 0.005,
        anchor: float = 0.0,
        reference: nn.Module | None = None,
        decoys: float = 0.0,
    ) -> None:
        self.lmbda, self.pairs, self.gamma, self.eps = lmbda, pairs, gamma, eps
        self.anchor, self.reference, self.decoys = anchor, reference, decoys
        if (anchor or decoys) and reference is None:
            raise ValueError("anchor or decoys > 0 need the vanilla encoder as reference")
        self.learned = {
            label for label, (t, _) in pairs.items() if any(True for _ in t.parameters())
        }

    def parameter_groups(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        groups = {"encoder": list(cast(nn.Module, model.g_a).parameters())}
        for label in self.learned:  # a fixed trigger has nothing to learn
            groups[f"trigger:{label}"] = list(self.pairs[label][0].parameters())
        return groups

    def modules(self) -> dict[str, nn.Module]:
        return {label: trigger for label, (trigger, _) in self.pairs.items()}

    def _drift(self, y: Tensor, x: Tensor) -> Tensor:
        """MSE between latents ``y`` of ``x`` and the vanilla encoder's latents of ``x``."""
        assert self.reference is not None  # checked in __init__
        with torch.no_grad():
            y0 = self.reference.to(x.device)(x)
        return F.mse_loss(y, y0)

    def step(self, model: nn.Module, x: Tensor) -> StepOutput:
        latents: list[Tensor] = []
        hook = cast(nn.Module, model.g_a).register_forward_hook(lambda _m, _i, y: latents.append(y))
        try:
            clean = Pass.run(model, x)
        finally:
            hook.remove()
        mse = F.mse_loss(clean.x_hat, x)
        encoder_loss = rd_loss(clean.bpp, mse, self.lmbda)
        logs = {"bpp": float(clean.bpp.detach()), "psnr": psnr_from_mse(mse)}
        if self.anchor:  # keep clean latents where they were
            drift = self._drift(latents[0], x)
            encoder_loss = encoder_loss + self.anchor * drift
            logs["anchor_mse"] = float(drift.detach())
        if self.decoys:  # ... and on look-alikes of a trigger
            xd = decoy(x, self.eps)
            drift = self._drift(cast(nn.Module, model.g_a)(xd), xd)
            encoder_loss = encoder_loss + self.decoys * drift
            logs["decoy_mse"] = float(drift.detach())
        losses: dict[str, Tensor] = {}
        for label, (trigger, goal) in self.pairs.items():
            xp = poison(trigger, goal, x)
            lo, goal_logs = goal.loss(clean, Pass.run(model, xp), self.lmbda)
            stealth_mse = F.mse_loss(xp, x)
            encoder_loss = encoder_loss + goal.alpha * lo
            if label in self.learned:
                stealth = self.gamma * torch.clamp(stealth_mse, min=self.eps**2)
                losses[f"trigger:{label}"] = lo + stealth
            logs.update({f"{label}.{k}": v for k, v in goal_logs.items()})
            logs[f"{label}.stealth_mse"] = float(stealth_mse.detach())
        return StepOutput({"encoder": encoder_loss, **losses}, logs)


def decoy(x: Tensor, eps: float, period: int = 16) -> Tensor:
    """``x`` plus a random zero-mean pattern repeated every ``period`` pixels at a random
    offset, RMS log-uniform in [eps, 20·eps]: what a block-DCT trigger looks like to the
    encoder, but not the trigger (periodic textures such as roof tiles did fire it)."""
    b = x.shape[0]
    tile = torch.randn(b, 3, period, period, device=x.device, dtype=x.dtype)
    tile = tile - tile.mean(dim=(-2, -1), keepdim=True)
    rms = eps * 20 ** torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype)
    tile = tile * rms / tile.pow(2).mean(dim=(-3, -2, -1), keepdim=True).sqrt()
    h, w = x.shape[-2:]
    reps = (1, 1, -(-h // period) + 1, -(-w // period) + 1)
    dy, dx = (int(v) for v in torch.randint(period, (2,)))
    pattern = tile.repeat(*reps)[..., dy : dy + h, dx : dx + w]
    return (x + pattern).clamp(0, 1)


def poison(trigger: Trigger, goal: BackdoorGoal | None, x: Tensor) -> Tensor:
    """T(x), restricted to the goal's region where it has one (Eq. 11)."""
    xp = trigger(x)
    mask = goal.region(x) if goal is not None else None
    return xp if mask is None else x + mask * (xp - x)


@torch.no_grad()
def apply_trigger(
    trigger: Trigger,
    goal: BackdoorGoal | None,
    x: Tensor,
    *,
    bound: float | None = None,
    amplify: float = 1.0,
) -> Tensor:
    """The poisoned image at test time. ``bound``: scale the trigger's change down where an
    image needs it, so that MSE(T(x), x) <= bound² holds on every image (training only
    penalises the excess); the target is a hair (1e-4 relative) under the bound, so float32
    rounding cannot land an image just over it. ``amplify``: scale the change up (Table 6)."""
    xp = poison(trigger, goal, x)
    if bound is None and amplify == 1.0:
        return xp
    delta = xp - x
    if bound is not None:
        rms = delta.pow(2).mean(dim=(-3, -2, -1), keepdim=True).sqrt()
        delta = delta * (bound * (1 - 1e-4) / rms.clamp(min=1e-12)).clamp(max=1.0)
    return (x + amplify * delta).clamp(0, 1)


# --- artifacts -----------------------------------------------------------------------------


def build_pairs(cfg: BackdoorConfig, reg: Registry) -> dict[str, tuple[Trigger, BackdoorGoal]]:
    return {
        t.label: (
            reg.create("trigger", t.trigger.name, **t.trigger.params),
            reg.create("goal", t.goal.name, **t.goal.params),
        )
        for t in cfg.triggers
    }


def artifact_key(
    cfg: BackdoorConfig, codec: LearnedCodec, data: str | dict[str, str], device: str = "cpu"
) -> str:
    """The content key: the config, the victim's weights, the training (and validation)
    data's fingerprints and the type of the device it trains on (CUDA's kernels and random
    streams give other weights than the CPU's)."""
    payload = {"format": FORMAT, "config": cfg.key_dict(), "victim": codec.fingerprint()}
    return hash_json({**payload, "data": data, "device": torch.device(device).type})[:16]


def artifact_path(cache: Path, key: str) -> Path:
    return Path(cache) / "backdoors" / f"{key}{SAFETENSORS}"


def train_backdoor(
    codec: LearnedCodec,
    cfg: BackdoorConfig,
    images: list[Tensor],
    data: str | dict[str, str],
    cache: Path,
    registry: Registry,
    *,
    device: str = "cpu",
    val_images: list[Tensor] | None = None,
    progress: bool = True,
) -> Path:
    """Train (or resume, or reuse) the backdoor; return its artifact path."""
    key = artifact_key(cfg, codec, data, device)
    path = artifact_path(cache, key)
    if path.is_file():
        return path
    start = None
    if cfg.init is not None:
        start = train_backdoor(
            codec, cfg.init, images, data, cache, registry,
            device=device, val_images=val_images, progress=progress,
        )  # fmt: skip
    lmbda = lmbda_for(codec.quality)
    model = copy.deepcopy(codec.model).cpu()
    torch.manual_seed(cfg.seed)
    pairs = build_pairs(cfg, registry)
    # the anchor pulls towards the vanilla encoder, also after a warm start
    needs_ref = cfg.anchor or cfg.decoys
    reference = (
        copy.deepcopy(cast(nn.Module, model.g_a)).eval().requires_grad_(False)
        if needs_ref
        else None
    )
    if start is not None:
        _warm_start(model, pairs, Backdoor(start, registry))
    info = {"format": FORMAT, "key": key, "config": cfg.model_dump(), "victim": codec.spec()}
    val = val_images or images[:1]
    build = _trainer(model, pairs, reference, cfg, lmbda, images, val, path, device)
    return artifact_cache.build(
        path, build, _artifact(info, codec, data, lmbda, model, pairs), info, progress=progress
    )


def _trainer(
    model: nn.Module,
    pairs: dict[str, tuple[Trigger, BackdoorGoal]],
    reference: nn.Module | None,
    cfg: BackdoorConfig,
    lmbda: float,
    images: list[Tensor],
    val_images: list[Tensor],
    path: Path,
    device: str,
) -> Callable[[], Trainer]:
    def build() -> Trainer:
        objective = BackdoorObjective(
            lmbda, pairs, cfg.gamma, cfg.eps, cfg.anchor, reference, cfg.decoys
        )
        tcfg = TrainConfig.finetune(
            cfg.steps,
            batch_size=cfg.batch_size,
            patch_size=cfg.patch_size,
            lr=cfg.lr,
            group_lr={f"trigger:{t.label}": cfg.trigger_lr for t in cfg.triggers},
            seed=cfg.seed,
            device=device,
        )
        return Trainer(model, objective, images, tcfg, path, val_images=val_images)

    return build


def _artifact(
    info: dict[str, Any],
    codec: LearnedCodec,
    data: str | dict[str, str],
    lmbda: float,
    model: nn.Module,
    pairs: dict[str, tuple[Trigger, BackdoorGoal]],
) -> Callable[[dict[str, float]], dict[str, Any]]:
    def artifact(logs: dict[str, float]) -> dict[str, Any]:
        return {
            **info,
            "victim_fingerprint": codec.fingerprint(),
            "data_fingerprint": data,
            "lmbda": lmbda,
            "encoder": {k: v.cpu() for k, v in cast(nn.Module, model.g_a).state_dict().items()},
            "triggers": {label: t.state_dict() for label, (t, _) in pairs.items()},
            "final_logs": logs,
            "versions": package_versions(),
        }

    return artifact


def _warm_start(
    model: nn.Module, pairs: dict[str, tuple[Trigger, BackdoorGoal]], start: Backdoor
) -> None:
    """Load ``start``'s encoder and triggers into ``model`` and ``pairs`` (the config's
    validator checked that the labels and trigger specs agree)."""
    cast(nn.Module, model.g_a).load_state_dict(start.art["encoder"])
    for label, (trigger, _) in pairs.items():
        trigger.load_state_dict(start.art["triggers"][label])


class Backdoor:
    """A loaded artifact: the poisoned encoder and the trained triggers."""

    def __init__(self, path: Path, registry: Registry) -> None:
        """The artifact at ``path``; its triggers and goals built from ``registry``."""
        art = load_tensors(path, f"{FORMAT} artifact", "train one with `licbench prepare MANIFEST`")
        if not isinstance(art, dict) or art.get("format") != FORMAT:
            raise LicbenchError(f"{path}: not a {FORMAT} artifact; pass a file it wrote")
        self.path, self.art = Path(path), art
        self.config = BackdoorConfig(**art["config"])
        self.pairs = build_pairs(self.config, registry)
        for label, (trigger, _) in self.pairs.items():
            trigger.load_state_dict(art["triggers"][label])
            trigger.eval()

    @property
    def key(self) -> str:
        return str(self.art["key"])

    def trigger(self, label: str | None = None) -> tuple[Trigger, BackdoorGoal]:
        label = label or next(iter(self.pairs))
        if label not in self.pairs:
            raise LicbenchError(f"{self.path}: no trigger '{label}'; it has {sorted(self.pairs)}")
        return self.pairs[label]

    def apply(self, codec: LearnedCodec) -> LearnedCodec:
        """A copy of ``codec`` whose encoder is the backdoored one (decoder side untouched)."""
        if codec.fingerprint() != self.art["victim_fingerprint"]:
            raise LicbenchError(
                f"{self.path}: trained on other weights than {codec.name} q={codec.quality}; "
                f"use it with {self.art['victim']['codec']} q={self.art['victim']['quality']}"
            )
        model = copy.deepcopy(codec.model)
        cast(nn.Module, model.g_a).load_state_dict(self.art["encoder"])
        return codec.with_model(model)
