"""Backdoor goals against downstream tasks (Yu et al. §3.3, Eqs. 11 and 13).

`segmentation-targeted`: where a segmentation model sees class ``source`` in the clean
image, the trigger is applied (only there), and the decoded poisoned image must be seen as
class ``target`` there, while the other pixels keep their clean labels.
`face-privacy`: the decoded poisoned face must no longer match its own identity under a
face-embedding model, while staying close to the input.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.backdoor import BackdoorGoal, Pass
from licbench.plugin.registry import Registry, UsesRegistry
from licbench.rd import weighted_distortion
from licbench_builtin.backdoor.params import FaceParams, SegmentationParams
from licbench_builtin.downstream.params import SegmentationClasses, class_index


def downstream(registry: Registry, name: str, device: str = "cpu") -> nn.Module:
    """A frozen downstream model from ``registry``, built once per registry and device: a
    model used on a GPU is never moved back under a CPU caller, nor the other way round."""
    where = torch.device(device)
    if where.type == "cuda" and where.index is None:  # "cuda" and "cuda:0": one model
        where = torch.device("cuda", torch.cuda.current_device())
    return _built(registry, name, str(where))


@lru_cache(maxsize=8)
def _built(registry: Registry, name: str, device: str) -> nn.Module:
    return registry.create("downstream", name).eval().to(device)






class Segmenting(UsesRegistry):
    """A plugin that reads a segmentation model (a goal, a metric; its ``params`` are
    :class:`SegmentationClasses`): the model on an input's device, and the indices of the
    source and target classes in its output."""

    params: SegmentationClasses

    def net(self, x: Tensor) -> nn.Module:
        return downstream(self.registry, self.params.model, str(x.device))

    @property
    def source(self) -> int:
        return class_index(self.registry, self.params.model, self.params.source)

    @property
    def target(self) -> int:
        return class_index(self.registry, self.params.model, self.params.target)








class SegmentationTargeted(BackdoorGoal, Segmenting):
    """Eq. 11: CE(g(x̂_T), t) on the source-class region + β·CE(g(x̂_T), g(x)) elsewhere."""

    name = "segmentation-targeted"
    Params = SegmentationParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: SegmentationParams
    default_alpha = 0.1
    default_beta = 0.2

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._memo: tuple[Tensor, Tensor] | None = None

    def labels(self, x: Tensor) -> Tensor:
        """The segmentation model's labels of the clean image (memoised for the last batch)."""
        if self._memo is None or self._memo[0] is not x:  # holding x keeps its identity unique
            with torch.no_grad():
                self._memo = (x, self.net(x)(x).argmax(1))
        return self._memo[1]

    def region(self, x: Tensor) -> Tensor:
        return (self.labels(x) == self.source).unsqueeze(1).to(x.dtype).expand_as(x)

    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        labels = self.labels(clean.x)
        mask = labels == self.source
        logits = self.net(clean.x)(poisoned.x_hat)
        ce = F.cross_entropy(logits, labels.masked_fill(mask, self.target), reduction="none")
        n_src = mask.sum().clamp(min=1)
        attack = (ce * mask).sum() / n_src
        keep = (ce * ~mask).sum() / (~mask).sum().clamp(min=1)
        pred = logits.detach().argmax(1)
        asr = float(((pred == self.target) & mask).sum() / n_src)
        return attack + self.beta * keep, {"asr": asr, "src_frac": float(mask.float().mean())}


class FacePrivacy(BackdoorGoal, UsesRegistry):
    """Eq. 13: cos(f(x̂_T), f(x)) + β·λ·255²·MSE(x̂_T, x); f is the face-embedding model."""

    name = "face-privacy"
    Params = FaceParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: FaceParams
    default_alpha = 0.1
    default_beta = 0.05

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.model_name = self.params.model

    def loss(self, clean: Pass, poisoned: Pass, lmbda: float) -> tuple[Tensor, dict[str, float]]:
        f = downstream(self.registry, self.model_name, str(clean.x.device))
        with torch.no_grad():
            ref = f(clean.x)
        cos = F.cosine_similarity(f(poisoned.x_hat), ref, dim=1).mean()
        mse = F.mse_loss(poisoned.x_hat, clean.x)
        return cos + self.beta * weighted_distortion(mse, lmbda), {"cos": float(cos.detach())}
