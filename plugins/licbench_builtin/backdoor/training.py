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
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from licbench.api.codec import LearnedCodec, Trigger
from licbench.errors import LicbenchError
from licbench.hashing import hash_json, package_versions
from licbench.plugin.manager import get_registry
from licbench.train.trainer import Objective, StepOutput, TrainConfig, Trainer
from licbench_builtin.backdoor.goals import BackdoorGoal, Pass

log = logging.getLogger("licbench")
FORMAT = "licbench-backdoor/1"


class PluginSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class TriggerSpec(BaseModel):
    """One backdoor of the model: a trigger tied to its goal."""

    model_config = ConfigDict(extra="forbid")
    label: str
    trigger: PluginSpec
    goal: PluginSpec


class BackdoorConfig(BaseModel):
    """Everything that determines a trained backdoor (besides the victim and the data)."""

    model_config = ConfigDict(extra="forbid")
    triggers: list[TriggerSpec] = Field(min_length=1)
    gamma: float = 1e4
    eps: float = 0.005
    steps: int = 2000
    batch_size: int = 8
    patch_size: int = Field(128, multiple_of=64)  # the codec downsamples by 64
    lr: float = 1e-4  # encoder
    trigger_lr: float = 1e-3
    anchor: float = 0.0  # weight of MSE(g_a(x), vanilla g_a(x)) on clean x; 0 = the paper's loss
    seed: int = 0
    # weight of the anchor on decoys: clean images plus a random repeated pattern (a new one
    # each step, 1-20x the trigger's size) that the encoder must not answer; 0 = off
    decoys: float = 0.0
    # warm start: train (or reuse) this backdoor first and continue from its encoder and
    # triggers (same labels and trigger specs; goals, lrs and anchor may differ), e.g. a
    # second phase at a lower learning rate. The anchor still pulls to the vanilla encoder.
    init: BackdoorConfig | None = None

    @model_validator(mode="after")
    def _init_has_our_triggers(self) -> BackdoorConfig:
        if self.init is not None:
            want = {t.label: t.trigger for t in self.triggers}
            have = {t.label: t.trigger for t in self.init.triggers}
            if want != have:
                raise ValueError(
                    f"init's triggers {sorted(have)} differ from this backdoor's {sorted(want)}; "
                    "give `init` the same labels and trigger specs"
                )
        return self

    def key_dict(self) -> dict[str, Any]:
        """The dump that keys the artifact. Fields added after the first release enter only
        when set, so the keys of backdoors trained before they existed are unchanged."""
        d = self.model_dump(exclude={"init"})
        for name in _LATER:
            if d[name] == BackdoorConfig.model_fields[name].default:
                del d[name]
        if self.init is not None:
            d["init"] = self.init.key_dict()
        return d


_LATER = ("decoys",)


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
        groups = {"encoder": list(model.g_a.parameters())}
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
        hook = model.g_a.register_forward_hook(lambda _m, _i, y: latents.append(y))
        try:
            clean = Pass.run(model, x)
        finally:
            hook.remove()
        mse = F.mse_loss(clean.x_hat, x)
        encoder_loss = clean.bpp + self.lmbda * 255**2 * mse
        logs = {
            "bpp": float(clean.bpp.detach()),
            "psnr": -10 * math.log10(float(mse.detach()) + 1e-12),
        }
        if self.anchor:  # keep clean latents where they were
            drift = self._drift(latents[0], x)
            encoder_loss = encoder_loss + self.anchor * drift
            logs["anchor_mse"] = float(drift.detach())
        if self.decoys:  # ... and on look-alikes of a trigger
            xd = decoy(x, self.eps)
            drift = self._drift(model.g_a(xd), xd)
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


def build_pairs(cfg: BackdoorConfig) -> dict[str, tuple[Trigger, BackdoorGoal]]:
    reg = get_registry()
    pairs = {}
    for t in cfg.triggers:
        if t.label in pairs:
            raise LicbenchError(f"backdoor trigger label '{t.label}' is used twice; rename one")
        trig = reg.create("trigger", t.trigger.name, **t.trigger.params)
        pairs[t.label] = (trig, reg.create("objective", t.goal.name, **t.goal.params))
    return pairs


def artifact_key(cfg: BackdoorConfig, codec: LearnedCodec, data_fingerprint: str) -> str:
    return hash_json(
        {
            "format": FORMAT,
            "config": cfg.key_dict(),
            "victim": codec.fingerprint(),
            "data": data_fingerprint,
        }
    )[:16]


def train_backdoor(
    codec: LearnedCodec,
    cfg: BackdoorConfig,
    images: list[Tensor],
    data_fingerprint: str,
    cache: Path,
    *,
    device: str = "cpu",
    val_images: list[Tensor] | None = None,
    progress: bool = True,
) -> Path:
    """Train (or resume, or reuse) the backdoor; return its artifact path."""
    from licbench.train.objectives import lmbda_for

    key = artifact_key(cfg, codec, data_fingerprint)
    path = Path(cache) / "backdoors" / f"{key}.pt"
    if path.is_file():
        log.info("backdoor %s: reusing %s", key, path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lmbda = lmbda_for(codec.quality)
    model = copy.deepcopy(codec.model).cpu()
    torch.manual_seed(cfg.seed)
    pairs = build_pairs(cfg)
    needs_ref = cfg.anchor or cfg.decoys
    reference = copy.deepcopy(model.g_a).eval().requires_grad_(False) if needs_ref else None
    if cfg.init is not None:
        start = train_backdoor(
            codec,
            cfg.init,
            images,
            data_fingerprint,
            cache,
            device=device,
            val_images=val_images,
            progress=progress,
        )
        _warm_start(model, pairs, Backdoor(start))
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
    trainer = Trainer(model, objective, images, tcfg, path, val_images=val_images)

    def artifact(logs: dict[str, float]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key": key,
            "config": cfg.model_dump(),
            "victim": codec.spec(),
            "victim_fingerprint": codec.fingerprint(),
            "data_fingerprint": data_fingerprint,
            "lmbda": lmbda,
            "encoder": {k: v.cpu() for k, v in model.g_a.state_dict().items()},
            "triggers": {label: t.state_dict() for label, (t, _) in pairs.items()},
            "final_logs": logs,
            "versions": package_versions(),
        }

    return trainer.fit_to(path, artifact, progress=progress)


def _warm_start(
    model: nn.Module, pairs: dict[str, tuple[Trigger, BackdoorGoal]], start: Backdoor
) -> None:
    """Load ``start``'s encoder and triggers into ``model`` and ``pairs`` (the config's
    validator checked that the labels and trigger specs agree)."""
    model.g_a.load_state_dict(start.art["encoder"])
    for label, (trigger, _) in pairs.items():
        trigger.load_state_dict(start.art["triggers"][label])


class Backdoor:
    """A loaded artifact: the poisoned encoder and the trained triggers."""

    def __init__(self, path: Path) -> None:
        try:
            art = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise LicbenchError(
                f"{path}: not a readable backdoor artifact ({type(exc).__name__}); "
                "train one with `licbench backdoor train MANIFEST`"
            ) from exc
        if not isinstance(art, dict) or art.get("format") != FORMAT:
            raise LicbenchError(f"{path}: not a {FORMAT} artifact; pass a file it wrote")
        self.path, self.art = Path(path), art
        self.config = BackdoorConfig(**art["config"])
        self.pairs = build_pairs(self.config)
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
        out = copy.copy(codec)
        out.model = copy.deepcopy(codec.model)
        out.model.g_a.load_state_dict(self.art["encoder"])
        out.model.to(codec.device)
        out._fingerprint = None  # type: ignore[attr-defined]
        out.backdoor = self.key  # type: ignore[attr-defined]
        return out
