"""Built-in metrics: image quality, rate, time and downstream-task metrics. Registered
here by name and lazy target: listing them imports no torch;
each description is its class's docstring."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [
    ("bpp", "licbench_builtin.metrics.image:Bpp"),
    ("bpp-estimate", "licbench_builtin.metrics.image:BppEstimate"),
    ("psnr", "licbench_builtin.metrics.image:Psnr"),
    ("ms-ssim", "licbench_builtin.metrics.image:MsSsim"),
    ("psnr-clean", "licbench_builtin.metrics.image:PsnrClean"),
    ("input-psnr", "licbench_builtin.metrics.image:InputPsnr"),
    ("input-linf", "licbench_builtin.metrics.image:InputLinf"),
    ("encode-seconds", "licbench_builtin.metrics.image:EncodeSeconds"),
    ("decode-seconds", "licbench_builtin.metrics.image:DecodeSeconds"),
    ("seg-asr", "licbench_builtin.metrics.downstream:SegAsr"),
    ("seg-mse", "licbench_builtin.metrics.downstream:SegMse"),
    ("seg-agreement", "licbench_builtin.metrics.downstream:SegAgreement"),
    ("face-similarity", "licbench_builtin.metrics.downstream:FaceSimilarity"),
    ("face-accuracy", "licbench_builtin.metrics.downstream:FaceAccuracy"),
]

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
    for name, target in PLUGINS:
        register(name, target, roles=ROLES.get(name, []))
