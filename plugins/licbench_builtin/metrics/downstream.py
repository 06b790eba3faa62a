"""Metrics through downstream models: segmentation attack success (Yu et al. Eq. 12), the
change of the segmentation output, its pixel agreement, and face identity similarity."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from licbench.api.metric import Metric, Sample
from licbench.plugin.hookspecs import hookimpl
from licbench_builtin.backdoor.goals_downstream import (
    FaceModel,
    SegmentationClasses,
    class_index,
    downstream,
)


class _Segmentation(Metric):
    Params = SegmentationClasses
    params: SegmentationClasses

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        model = self.model_name = self.params.model
        if model != "espnetv2-cityscapes":  # one score column per downstream model
            self.name = f"{self.name}@{model}"
        self.source = class_index(model, self.params.source)
        self.target = class_index(model, self.params.target)

    @torch.no_grad()
    def outputs(self, s: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        net = downstream(self.model_name).to(s.x_hat.device)
        return net(s.x.to(s.x_hat.device)), net(s.x_hat)


class SegAsr(_Segmentation):
    """Eq. 12: share of the clean image's source-class pixels decoded as the target class."""

    name, higher_is_better, unit = "seg-asr", True, "%"

    def compute(self, s: Sample) -> float | None:
        ref, out = self.outputs(s)
        mask = ref.argmax(1) == self.source
        if not mask.any():
            return None  # no source pixels: the attack does not apply to this image
        return 100 * float(((out.argmax(1) == self.target) & mask).sum() / mask.sum())


class SegMse(_Segmentation):
    """MSE between the segmentation probabilities of the clean image and of the decoded one."""

    name, higher_is_better, unit = "seg-mse", False, ""

    def compute(self, s: Sample) -> float:
        ref, out = self.outputs(s)
        return float(F.mse_loss(out.softmax(1), ref.softmax(1)))


class SegAgreement(_Segmentation):
    """Share of pixels labelled as on the clean image: the downstream accuracy of a decoded
    image, with the model's labels of the uncompressed clean image as the reference."""

    name, higher_is_better, unit = "seg-agreement", True, "%"

    def compute(self, s: Sample) -> float:
        ref, out = self.outputs(s)
        return 100 * float((out.argmax(1) == ref.argmax(1)).float().mean())


class FaceSimilarity(Metric):
    """Cosine similarity of face embeddings of the clean and the decoded image (identity kept)."""

    name, higher_is_better, unit = "face-similarity", True, ""
    Params = FaceModel
    params: FaceModel

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        model = self.model_name = self.params.model
        if model != "mobilefacenet":
            self.name = f"{self.name}@{model}"

    @torch.no_grad()
    def compute(self, s: Sample) -> float:
        net = downstream(self.model_name).to(s.x_hat.device)
        return float(F.cosine_similarity(net(s.x.to(s.x_hat.device)), net(s.x_hat)).mean())


@hookimpl
def register_metrics(register: Any) -> None:
    for cls in (SegAsr, SegMse, SegAgreement, FaceSimilarity):
        register(cls.name, f"{__name__}:{cls.__name__}", description=cls.__doc__)
