"""Built-in metrics: image quality, rate, time and downstream-task metrics. Registered
here by name, lazy target, parameter model and description, so that listing, validating and
`plugins --params` import no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

DOWNSTREAM = "licbench_builtin.downstream.params"  # the downstream models' parameter models
BASE = "licbench.plugin.params:Params"  # a metric without parameters
PLUGINS = [  # name, class, Params, description
    ("bpp", "image:Bpp", BASE, "Bits per pixel of the real bitstream."),
    ("bpp-estimate", "image:BppEstimate", BASE,
     "Bits per pixel estimated from the entropy model's likelihoods (learned codecs)."),
    ("psnr", "image:Psnr", BASE,
     "PSNR (RGB, 8-bit) of the reconstruction against the codec's input."),
    ("ms-ssim", "image:MsSsim", BASE,
     "MS-SSIM (RGB, 8-bit) of the reconstruction against the codec's input."),
    ("psnr-clean", "image:PsnrClean", BASE,
     "PSNR (RGB, 8-bit) of the reconstruction against the clean image, not the input."),
    ("input-psnr", "image:InputPsnr", BASE,
     "PSNR of the codec's input (attacked or poisoned) against the clean image, unrounded."),
    ("input-linf", "image:InputLinf", BASE,
     "Largest absolute change of the input against the clean image (in 0..255 units)."),
    ("encode-seconds", "image:EncodeSeconds", BASE,
     "Wall-clock seconds of compress() (CUDA-synchronised)."),
    ("decode-seconds", "image:DecodeSeconds", BASE,
     "Wall-clock seconds of decompress() (CUDA-synchronised)."),
    ("seg-asr", "downstream:SegAsr", f"{DOWNSTREAM}:SegmentationClasses",
     "Eq. 12: share of the clean image's source-class pixels decoded as the target class."),
    ("seg-mse", "downstream:SegMse", f"{DOWNSTREAM}:SegmentationClasses",
     "MSE between the segmentation probabilities of the clean image and of the decoded one."),
    ("seg-agreement", "downstream:SegAgreement", f"{DOWNSTREAM}:SegmentationClasses",
     "Share of pixels labelled as on the clean image, after decoding."),
    ("face-similarity", "downstream:FaceSimilarity", f"{DOWNSTREAM}:FaceModel",
     "Cosine similarity of the face embeddings of the clean and the decoded image."),
    ("face-accuracy", "downstream:FaceAccuracy", f"{__name__}.params:PairsParams",
     "Face verification accuracy on labelled pairs (Yu et al. Table 2), in percent."),
]  # fmt: skip

ROLES = {  # the default metrics, in this order (part of every default manifest's cell keys)
    "bpp": ["default"],
    "bpp-estimate": ["default"],
    "psnr": ["default"],
    "ms-ssim": ["default"],
    "encode-seconds": ["default", "timing"],
    "decode-seconds": ["default", "timing"],
}


@hookimpl
def register_metrics(register: Register) -> None:
    for name, target, params, description in PLUGINS:
        register(
            name,
            f"{__name__}.{target}",
            description=description,
            params=params,
            roles=ROLES.get(name, []),
        )
