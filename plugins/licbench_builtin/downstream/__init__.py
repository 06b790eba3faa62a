"""Built-in downstream task models (frozen): segmentation for the segmentation backdoor and its
metrics, face embeddings for the face-privacy backdoor. Registered here by name and lazy
target: listing them imports no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

MODELS = [
    (
        "espnet-cityscapes",
        "espnet:ESPNetCityscapes",
        "ESPNet (p=2, q=8) Cityscapes segmentation, 19 train ids + void",
    ),
    (
        "espnetv2-cityscapes",
        "espnetv2:ESPNetv2Cityscapes",
        "ESPNetv2 (s=2.0) Cityscapes segmentation, 19 train ids + void (19); 66.4 mIoU.",
    ),
    (
        "espnetv2-pascal",
        "espnetv2:ESPNetv2Pascal",
        "ESPNetv2 (s=2.0) Pascal VOC segmentation, 21 classes (0 background).",
    ),
    (
        "mobilefacenet",
        "mobilefacenet:MobileFaceNet",
        "MobileFaceNet (CASIA-WebFace) face embeddings on 256x256 aligned crops",
    ),
]


@hookimpl
def register_downstream(register: Register) -> None:
    for name, target, description in MODELS:
        register(name, f"{__name__}.{target}", description=description)
