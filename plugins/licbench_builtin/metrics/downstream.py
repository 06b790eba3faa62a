"""Metrics through downstream models: segmentation attack success (Yu et al. Eq. 12), the
change of the segmentation output, its pixel agreement, face identity similarity, and face
verification accuracy on labelled pairs."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from licbench.api.metric import Metric, Sample
from licbench.errors import LicbenchError
from licbench.images import load_image
from licbench.plugin.registry import Registry, UsesRegistry
from licbench_builtin.backdoor.goals_downstream import Segmenting, downstream
from licbench_builtin.downstream.mobilefacenet import best_threshold
from licbench_builtin.downstream.params import FaceModel, SegmentationClasses
from licbench_builtin.metrics.params import PairsParams


class _Segmentation(Metric, Segmenting):
    Params = SegmentationClasses
    params: SegmentationClasses

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params.model != "espnetv2-cityscapes":  # one score column per model
            self.name = f"{self.name}@{self.params.model}"

    @torch.no_grad()
    def outputs(self, s: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.net(s.x_hat)
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


class FaceSimilarity(Metric, UsesRegistry):
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
        net = downstream(self.registry, self.model_name, str(s.x_hat.device))
        return float(F.cosine_similarity(net(s.x.to(s.x_hat.device)), net(s.x_hat)).mean())




@lru_cache(maxsize=2)
def _references(
    registry: Registry, model: str, pairs: Path
) -> tuple[dict[str, list[tuple[str, bool]]], Any, float]:
    """Per probe image its (partner, same) pairs; the uncompressed partners' embeddings; the
    threshold best on the uncompressed pairs."""
    try:
        rows = list(csv.DictReader(pairs.open()))
        probes: dict[str, list[tuple[str, bool]]] = {}
        for r in rows:
            probes.setdefault(Path(r["image_b"]).stem, []).append((r["image_a"], r["same"] == "1"))
    except (OSError, KeyError) as exc:
        raise LicbenchError(
            f"{pairs}: not a pairs CSV with image_a,image_b,same ({exc}); set the metric's pairs"
        ) from None
    net = downstream(registry, model)
    with torch.no_grad():
        names = {r["image_a"] for r in rows} | {r["image_b"] for r in rows}
        limit = registry.settings.max_pixels
        emb = {n: net(load_image(pairs.parent / "pairs" / n, limit)) for n in sorted(names)}
    sims = [float(F.cosine_similarity(emb[r["image_a"]], emb[r["image_b"]])) for r in rows]
    thr, _ = best_threshold(sims, [int(r["same"]) for r in rows])
    return probes, emb, thr


class FaceAccuracy(Metric, UsesRegistry):
    """Face verification accuracy on labelled pairs (Yu et al. Table 2), in percent.

    The decoded image is the probe of its pairs against the uncompressed enrolled faces, at
    the cosine threshold best on uncompressed pairs; per image the share of its pairs
    decided right (None: the image probes no pair)."""

    name, higher_is_better, unit = "face-accuracy", True, "%"
    Params = PairsParams
    params: PairsParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params.model != "mobilefacenet":
            self.name = f"{self.name}@{self.params.model}"
        root = self.registry.settings.data or Path(".")
        given = self.params.pairs
        self.pairs = Path(given).expanduser() if given else root / "faces" / "pairs.csv"

    @torch.no_grad()
    def compute(self, s: Sample) -> float | None:
        probes, emb, thr = _references(self.registry, self.params.model, self.pairs)
        pairs = probes.get(Path(s.name).stem)
        if not pairs:
            return None
        net = downstream(self.registry, self.params.model, str(s.x_hat.device))
        probe = net(s.x_hat)
        right = [
            (float(F.cosine_similarity(probe, emb[a].to(probe.device))) > thr) == same
            for a, same in pairs
        ]
        return 100 * sum(right) / len(right)
