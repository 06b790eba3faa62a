"""The one training loop: codec training, backdoor injection and adversarial fine-tuning.

An :class:`Objective` supplies parameter groups (each with its own Adam optimizer), the loss
of each group on a batch, and whether the entropy bottleneck's auxiliary loss is trained.
The loop owns everything else: random-crop batches, gradient clipping, learning rate
divided by 10 on a validation plateau, a progress bar, periodic validation, checkpoints that
``resume`` continues exactly, and a stop with a clear message on a NaN or exploding loss.
"""

from __future__ import annotations

import logging
import math
import random
import sys
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from licbench.checkpoint import SAFETENSORS, load_tensors, save_tree
from licbench.errors import LicbenchError
from licbench.paths import atomic
from licbench.rd import DOWNSAMPLING

log = logging.getLogger("licbench")
STATE_FORMAT = "licbench-train-state/1"


@dataclass
class StepOutput:
    """Losses to minimise, one per parameter group, and scalars to log."""

    losses: dict[str, Tensor]
    logs: dict[str, float] = field(default_factory=dict)


class Objective(ABC):
    """What is trained and towards what; the loop does the rest."""

    aux_loss: bool = False  # also train the entropy bottleneck's quantiles

    @abstractmethod
    def parameter_groups(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Named groups of parameters, each optimised by its own Adam."""

    @abstractmethod
    def step(self, model: nn.Module, x: Tensor) -> StepOutput:
        """Losses for a training batch ``x`` (one per group)."""

    def modules(self) -> dict[str, nn.Module]:
        """Extra trainable modules (e.g. trigger networks) saved in checkpoints."""
        return {}

    @torch.no_grad()
    def validate(self, model: nn.Module, images: list[Tensor]) -> dict[str, float]:
        """Validation scalars; ``loss`` is watched for plateaus (default: mean main loss)."""
        out = [self.step(model, x) for x in images]
        logs = {k: float(np.mean([o.logs[k] for o in out])) for k in out[0].logs}
        logs["loss"] = float(np.mean([float(sum(o.losses.values())) for o in out]))
        return logs


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 8
    patch_size: int = 256
    lr: float = 1e-4
    group_lr: dict[str, float] = field(default_factory=dict)  # per-group overrides of lr
    aux_lr: float = 1e-3
    clip_norm: float = 1.0
    val_every: int = 200
    ckpt_every: int = 200
    plateau_patience: int = 3
    lr_drop: list[int] = field(default_factory=list)  # steps at which every lr is divided by 10
    explode_factor: float = 1e3  # a loss this many times the running median stops training
    seed: int = 0
    device: str = "cpu"

    @classmethod
    def finetune(cls, steps: int, **kw: Any) -> TrainConfig:
        """A short fine-tuning run: validate 4 times, checkpoint every 5 % (at least 50 steps)."""
        return cls(steps=steps, val_every=max(steps // 4, 1), ckpt_every=max(steps // 20, 50), **kw)


class PatchSampler:
    """Seeded random crops from a list of uint8 images; its state resumes exactly."""

    def __init__(self, images: list[Tensor], patch: int, batch: int, seed: int) -> None:
        small = [i for i, im in enumerate(images) if min(im.shape[-2:]) < patch]
        if small:
            raise LicbenchError(
                f"{len(small)} training images are smaller than patch_size {patch}; "
                "use a smaller --patch-size"
            )
        self.images = [(im.squeeze(0) * 255).round().to(torch.uint8) for im in images]
        self.patch, self.batch = patch, batch
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> Tensor:
        out, draw = [], lambda n: int(torch.randint(n, (1,), generator=self.gen, device="cpu"))
        for _ in range(self.batch):
            im = self.images[draw(len(self.images))]
            h, w = im.shape[-2:]
            top, left = draw(h - self.patch + 1), draw(w - self.patch + 1)
            out.append(im[:, top : top + self.patch, left : left + self.patch])
        return torch.stack(out).float().div(255.0)


def _crop_to(x: Tensor, div: int) -> Tensor:
    """Centre crop to a multiple of ``div`` so that any image fits the codec's strides."""
    h, w = (x.shape[-2] // div) * div, (x.shape[-1] // div) * div
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


def _finite_or_exploding(value: float, history: list[float], factor: float) -> str | None:
    if not math.isfinite(value):
        return "is not finite"
    if len(history) >= 20 and abs(value) > factor * float(np.median(np.abs(history[-200:]))):
        return f"exploded ({value:.3g}, {factor:g}x the running median)"
    return None


class Trainer:
    """Runs an objective on a model; checkpoints to ``out`` + ``.train.pt``."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        train_images: list[Tensor],
        cfg: TrainConfig,
        out: Path,
        val_images: list[Tensor] | None = None,
    ) -> None:
        self.model, self.obj, self.cfg, self.out = model, objective, cfg, Path(out)
        self.device = torch.device(cfg.device)
        self.model.to(self.device)
        for m in self.obj.modules().values():
            m.to(self.device)
        div = max(int(getattr(model, "downsampling_factor", DOWNSAMPLING)), DOWNSAMPLING)
        self.val = [_crop_to(v, div).to(self.device) for v in (val_images or [])]
        self.val_log: list[dict[str, float]] = []
        self.sampler = PatchSampler(train_images, cfg.patch_size, cfg.batch_size, cfg.seed)
        self.groups = objective.parameter_groups(model)
        self.opts = {
            g: torch.optim.Adam(p, lr=cfg.group_lr.get(g, cfg.lr)) for g, p in self.groups.items()
        }
        self.aux_opt = (
            torch.optim.Adam(
                [p for n, p in model.named_parameters() if n.endswith("quantiles")], lr=cfg.aux_lr
            )
            if objective.aux_loss
            else None
        )
        self.scheds = {
            g: torch.optim.lr_scheduler.ReduceLROnPlateau(
                o, mode="min", factor=0.1, patience=cfg.plateau_patience
            )
            for g, o in self.opts.items()
        }
        self.step_no = 0
        self.history: list[float] = []
        self.best = math.inf

    @property
    def state_path(self) -> Path:
        return self.out.with_name(self.out.name + ".train.pt")

    # --- checkpoints -----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """Tensors and plain containers only, so that resuming never unpickles code."""
        return {
            "format": STATE_FORMAT,
            "step": self.step_no,
            "model": self.model.state_dict(),
            "modules": {k: m.state_dict() for k, m in self.obj.modules().items()},
            "opts": {k: o.state_dict() for k, o in self.opts.items()},
            "aux_opt": self.aux_opt.state_dict() if self.aux_opt else None,
            "scheds": {k: s.state_dict() for k, s in self.scheds.items()},
            "sampler": self.sampler.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "numpy_rng": _numpy_state(),
            "py_rng": random.getstate(),
            "history": self.history,
            "val_log": self.val_log,
            "best": self.best,
            "config": asdict(self.cfg),
        }

    def save(self) -> None:
        save_atomic(self._state(), self.state_path)

    def resume(self) -> None:
        if not self.state_path.is_file():
            raise LicbenchError(f"{self.state_path} not found; run without --resume to start")
        fix = "delete it to train from the start"
        st = load_tensors(self.state_path, "licbench training state", fix)
        if not isinstance(st, dict) or st.get("format") != STATE_FORMAT:
            raise LicbenchError(
                f"{self.state_path}: not a {STATE_FORMAT} training state (an older licbench "
                f"wrote it, or another program); {fix}"
            )
        self.model.load_state_dict(st["model"])
        for k, m in self.obj.modules().items():
            m.load_state_dict(st["modules"][k])
        for k, o in self.opts.items():
            o.load_state_dict(st["opts"][k])
        if self.aux_opt and st["aux_opt"]:
            self.aux_opt.load_state_dict(st["aux_opt"])
        for k, s in self.scheds.items():
            s.load_state_dict(st["scheds"][k])
        self.sampler.gen.set_state(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") and torch.cuda.is_available():  # CUDA's streams, as saved
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        _set_numpy_state(st["numpy_rng"])
        random.setstate(st["py_rng"])
        self.step_no, self.history, self.best = st["step"], st["history"], st["best"]
        self.val_log = st.get("val_log", [])
        log.info("resumed %s at step %d", self.state_path, self.step_no)

    # --- the loop --------------------------------------------------------------------------

    def _one_step(self, x: Tensor) -> dict[str, float]:
        self.model.train()
        out = self.obj.step(self.model, x)
        total = float(sum(float(v.detach()) for v in out.losses.values()))
        problem = _finite_or_exploding(total, self.history, self.cfg.explode_factor)
        if problem:
            raise LicbenchError(
                f"training loss {problem} at step {self.step_no + 1}; stopped, the last good "
                f"checkpoint is {self.state_path} (lower --lr or check the data)"
            )
        for o in self.opts.values():
            o.zero_grad(set_to_none=True)
        names = list(out.losses)
        for i, g in enumerate(names):  # every gradient first: a step would change the graph
            params = [p for p in self.groups[g] if p.requires_grad]
            grads = torch.autograd.grad(
                out.losses[g], params, retain_graph=i < len(names) - 1, allow_unused=True
            )
            for p, gr in zip(params, grads, strict=True):
                p.grad = gr
        for g in names:
            torch.nn.utils.clip_grad_norm_(self.groups[g], self.cfg.clip_norm)
            self.opts[g].step()
        logs = dict(out.logs, loss=total)
        if self.aux_opt is not None:
            self.aux_opt.zero_grad(set_to_none=True)
            aux = getattr(self.model, "aux_loss")()  # noqa: B009 (a CompressAI method)
            aux.backward()
            self.aux_opt.step()
            logs["aux"] = float(aux.detach())
        self.history.append(total)
        return logs

    def validate(self) -> dict[str, float]:
        self.model.eval()
        logs = self.obj.validate(self.model, self.val)
        for s in self.scheds.values():
            s.step(logs["loss"])
        self.best = min(self.best, logs["loss"])
        self.val_log.append({"step": self.step_no, **logs})
        self.model.train()
        return logs

    def fit(self, progress: bool = True) -> dict[str, float]:
        """Train to ``cfg.steps``; return the last validation (or training) scalars."""
        bar = tqdm(
            total=self.cfg.steps,
            initial=self.step_no,
            desc="train",
            unit="step",
            disable=not progress,
            file=sys.stderr,
        )
        logs: dict[str, float] = {}
        last_val: dict[str, float] = {}
        while self.step_no < self.cfg.steps:
            if self.step_no in self.cfg.lr_drop:
                for o in self.opts.values():
                    for g in o.param_groups:
                        g["lr"] *= 0.1
            x = self.sampler.next().to(self.device)
            logs = self._one_step(x)
            self.step_no += 1
            bar.update(1)
            bar.set_postfix(
                {k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "bpp", "psnr")}
            )
            if self.val and self.step_no % self.cfg.val_every == 0:
                last_val = {f"val_{k}": v for k, v in self.validate().items()}
                log.info(
                    "step %d %s",
                    self.step_no,
                    " ".join(f"{k}={v:.4g}" for k, v in last_val.items()),
                )
            if self.step_no % self.cfg.ckpt_every == 0 or self.step_no == self.cfg.steps:
                self.save()
        bar.close()
        return last_val or logs


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    keys_t = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    return {"name": name, "keys": keys_t, "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}  # fmt: skip


def _set_numpy_state(st: dict[str, Any]) -> None:
    keys = st["keys"].numpy().astype(np.uint32)
    np.random.set_state((st["name"], keys, st["pos"], st["has_gauss"], st["cached"]))


def save_atomic(obj: Any, path: Path) -> None:
    """Write through a temporary file of this process, so a kill never leaves a half-written
    file: a ``.safetensors`` artifact (:func:`licbench.checkpoint.save_tree`), else
    ``torch.save`` (training states, read back with ``weights_only=True``)."""
    if path.suffix == SAFETENSORS:
        save_tree(obj, path)
        return
    with atomic(path) as tmp:
        torch.save(obj, tmp)
