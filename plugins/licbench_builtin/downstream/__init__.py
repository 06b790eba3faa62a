"""Built-in downstream task models (frozen): segmentation for the segmentation backdoor and its
metrics, face embeddings for the face-privacy backdoor. Registered here by name, lazy
target and (segmentation) class names: listing them and validating imports no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

CITYSCAPES = (
    "road sidewalk building wall fence pole traffic_light traffic_sign vegetation terrain sky "
    "person rider car truck bus train motorcycle bicycle void"
).split()  # the 19 train ids + void, in output order
PASCAL = (
    "background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
    "motorbike person pottedplant sheep sofa train tvmonitor"
).split()
CLASSES = {"cityscapes": CITYSCAPES, "pascal": PASCAL}  # by the suffix of a model's name

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
        register(
            name,
            f"{__name__}.{target}",
            description=description,
            params="licbench.plugin.params:Params",  # frozen models: no parameters
            classes=CLASSES.get(name.rpartition("-")[2]),  # a segmentation model's, in order
        )
