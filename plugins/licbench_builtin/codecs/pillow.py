"""JPEG, WebP, JPEG 2000, AVIF, HEVC intra (HEIF) and JPEG XL through Pillow: classical
anchors swept over quality."""

from __future__ import annotations

import io
from importlib.metadata import version
from typing import Any

from PIL import Image
from torch import Tensor

from licbench.api.codec import Codec, Encoded
from licbench.errors import LicbenchError
from licbench.images import pil_to_tensor, tensor_to_pil
from licbench_builtin.codecs.params import (
    AvifParams,
    HevcParams,
    Jpeg2000Params,
    JpegParams,
    JpegXlParams,
    WebpParams,
)


class PillowCodec(Codec):
    """Encode with a Pillow image format at an integer quality."""

    format = ""
    max_size = 65535
    save_options: dict[str, Any] = {}

    def register(self) -> None:
        """Load the Pillow plugin of the format, where Pillow lacks it."""

    def compress(self, x: Tensor) -> Encoded:
        self.register()
        h, w = x.shape[-2:]
        if max(h, w) > self.max_size:
            raise LicbenchError(f"{self.name} cannot encode {w}x{h} images (max {self.max_size})")
        buf = io.BytesIO()
        tensor_to_pil(x).save(buf, format=self.format, **self.save_args())
        return Encoded(buf.getvalue(), int(h), int(w))

    def save_args(self) -> dict[str, Any]:
        return {"quality": self.quality, **self.save_options}

    def decompress(self, enc: Encoded) -> Tensor:
        self.register()
        try:
            with Image.open(io.BytesIO(enc.payload)) as img:
                if img.size != (enc.width, enc.height) or img.format != self.format:
                    raise LicbenchError(
                        f"a {img.format} {img.size[0]}x{img.size[1]} payload where the header "
                        f"says {self.format} {enc.width}x{enc.height}; re-encode the image"
                    )
                return pil_to_tensor(img.convert("RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise LicbenchError(f"corrupt {self.name} payload ({exc}); re-encode") from None


class JpegCodec(PillowCodec):
    """Baseline JPEG (libjpeg via Pillow, 4:2:0 chroma subsampling, optimised Huffman)."""

    name = "jpeg"
    Params = JpegParams  # type: ignore[assignment]  # quality narrowed to int
    format = "JPEG"
    save_options = {"optimize": True, "subsampling": "4:2:0"}


class WebpCodec(PillowCodec):
    """Lossy WebP (libwebp via Pillow, method 6)."""

    name = "webp"
    Params = WebpParams  # type: ignore[assignment]  # quality narrowed to int
    format = "WEBP"
    max_size = 16383
    save_options = {"method": 6}


class Jpeg2000Codec(PillowCodec):
    """JPEG 2000 (OpenJPEG via Pillow, 9/7 wavelet, RGB to YCbCr colour transform), one
    layer at a target PSNR."""

    name = "jpeg2000"
    Params = Jpeg2000Params
    format = "JPEG2000"
    max_size = 2**15

    def save_args(self) -> dict[str, Any]:
        return {"quality_mode": "dB", "quality_layers": [float(self.quality)],
                "irreversible": True, "mct": 1}  # fmt: skip

    def key_extras(self) -> dict[str, Any]:
        """The colour transform (RGB to YCbCr, ``mct``) is on: cells coded without it rerun."""
        return {"mct": 1}


class AvifCodec(PillowCodec):
    """AVIF (libavif via Pillow, 4:2:0, speed 6)."""

    name = "avif"
    Params = AvifParams  # type: ignore[assignment]  # quality narrowed to int
    format = "AVIF"
    save_options = {"subsampling": "4:2:0", "speed": 6}


class HevcCodec(PillowCodec):
    """HEVC intra in HEIF (libheif with x265 via pillow-heif): 4:2:0 chroma, 8 bits, x265's
    medium preset, quality mapped by libheif to x265's CRF; decoded with libde265."""

    name = "hevc"
    Params = HevcParams  # type: ignore[assignment]  # quality narrowed to int
    format = "HEIF"
    max_size = 16384
    save_options = {"chroma": 420, "enc_params": {"preset": "medium"}}

    def register(self) -> None:
        import pillow_heif

        pillow_heif.register_heif_opener()

    def key_extras(self) -> dict[str, Any]:
        """The bundled libheif/x265 decide the bits: their package's version is keyed."""
        return {"pillow-heif": version("pillow-heif")}


class JpegXlCodec(PillowCodec):
    """JPEG XL (libjxl via pillow-jxl-plugin), lossy VarDCT at the default effort 7."""

    name = "jpeg-xl"
    Params = JpegXlParams  # type: ignore[assignment]  # quality narrowed to int
    format = "JXL"
    save_options = {"effort": 7}

    def register(self) -> None:
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

    def key_extras(self) -> dict[str, Any]:
        """The bundled libjxl decides the bits: its package's version is keyed."""
        return {"pillow-jxl-plugin": version("pillow-jxl-plugin")}
