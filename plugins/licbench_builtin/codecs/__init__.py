"""Built-in codecs: CompressAI's zoo (and the reduced-width "lite" models this package ships
weights for) and Pillow's classical codecs. Registered here by name and lazy target: listing
them imports neither torch nor the codecs."""

from __future__ import annotations

from pathlib import Path

from licbench.plugin.hookspecs import Register, hookimpl

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the shipped CPU ("lite") zoo
LITE_ARCHS = ("bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor")
ZOO = {  # architecture: (description, qualities of CompressAI's pretrained zoo)
    "bmshj2018-factorized": ("Ballé et al. 2018, factorized prior", 8),
    "bmshj2018-hyperprior": ("Ballé et al. 2018, scale hyperprior", 8),
    "mbt2018-mean": ("Minnen et al. 2018, mean-scale hyperprior", 8),
    "mbt2018": ("Minnen et al. 2018, joint autoregressive + hyperprior", 8),
    "cheng2020-anchor": ("Cheng et al. 2020, anchor", 6),
    "cheng2020-attn": ("Cheng et al. 2020, with attention", 6),
}
ZOO_QUALITIES: dict[str, list[int]] = {a: list(range(1, n + 1)) for a, (_, n) in ZOO.items()}
PILLOW = {
    "jpeg": ("JpegCodec", "JPEG via Pillow (quality 1-95)"),
    "webp": ("WebpCodec", "WebP via Pillow (quality 0-100)"),
    "jpeg2000": (
        "Jpeg2000Codec",
        "JPEG 2000 via Pillow/OpenJPEG (quality: target PSNR in dB, 15-70)",
    ),
    "avif": ("AvifCodec", "AVIF via Pillow (quality 0-100)"),
    "hevc": ("HevcCodec", "HEVC intra (x265, HEIF) via pillow-heif"),
    "jpeg-xl": ("JpegXlCodec", "JPEG XL via pillow-jxl-plugin"),
}


def lite_path(arch: str, quality: float) -> Path:
    return WEIGHTS_DIR / f"{arch}-lite-q{int(quality)}.pth.tar"


def lite_qualities(arch: str) -> list[int]:
    """Qualities whose weights this build ships for ``arch``."""
    return [q for q in range(1, 9) if lite_path(arch, q).is_file()]


def class_name(arch: str, lite: bool = False) -> str:
    return "".join(p.capitalize() for p in arch.split("-")) + ("Lite" if lite else "") + "Codec"


def _params(cls: str) -> str:
    """The lazy target of codec class ``cls``'s parameter model (in the torch-free module)."""
    return f"{__name__}.params:{cls.removesuffix('Codec')}Params"


@hookimpl
def register_codecs(register: Register) -> None:
    zoo = f"{__name__}.compressai"
    for arch, (desc, _) in ZOO.items():
        cls = class_name(arch)
        register(
            arch,
            f"{zoo}:{cls}",
            description=f"CompressAI {desc}",
            params=_params(cls),
            learned=True,
            qualities=ZOO_QUALITIES[arch],
        )
    for arch in LITE_ARCHS:
        qualities = lite_qualities(arch)
        if qualities:  # shipped in this build
            cls = class_name(arch, lite=True)
            register(
                f"{arch}-lite",
                f"{zoo}:{cls}",
                description=f"CompressAI {ZOO[arch][0]}; reduced width, shipped weights (CPU)",
                params=_params(cls),
                learned=True,
                qualities=qualities,
                roles={"testing": {"quality": 4}} if arch == "bmshj2018-hyperprior" else {},
            )
    for name, (cls, desc) in PILLOW.items():
        roles = ["anchor"] if name == "jpeg" else []
        target = f"{__name__}.pillow:{cls}"
        register(name, target, description=desc, params=_params(cls), learned=False, roles=roles)
