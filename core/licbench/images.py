"""Image I/O and padding, with one-line errors for bad files."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from licbench.errors import LicbenchError
from licbench.settings import DEFAULT_MAX_PIXELS

log = logging.getLogger("licbench")
def pil_to_rgb(img: Image.Image, source: str = "image") -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, logging what was changed."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        log.warning("%s: converted %s (high bit depth, grayscale) to 8-bit RGB", source, mode)
        return Image.fromarray(arr8).convert("RGB")
    note = {
        "L": "grayscale",
        "LA": "grayscale+alpha (alpha dropped)",
        "RGBA": "RGBA (alpha dropped)",
        "P": "palette",
        "CMYK": "CMYK",
    }.get(mode, mode)
    log.warning("%s: converted %s to RGB", source, note)
    return img.convert("RGB")


def load_image(path: str | object, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Read an image file as a ``1x3xHxW`` float tensor in [0, 1]: EXIF orientation applied,
    every conversion logged, and images over ``max_pixels`` (the settings' limit) refused
    before decoding."""
    try:
        with Image.open(path) as img:  # type: ignore[arg-type]
            w, h = img.size
            if w * h > max_pixels:
                raise LicbenchError(
                    f"{path}: {w}x{h} is over the {max_pixels}-pixel limit; downscale it "
                    "or raise LICBENCH_MAX_PIXELS (memory grows with the pixel count)"
                )
            if any(";16" in str(t[3]) for t in getattr(img, "tile", []) if len(t) > 3):
                log.warning("%s: converted 16-bit %s to 8 bits per channel", path, img.mode)
            img.load()
            rgb = pil_to_rgb(_upright(img, str(path)), str(path))
    except Image.DecompressionBombError:
        raise LicbenchError(
            f"{path}: its size is over the {max_pixels}-pixel limit (a decompression bomb?); "
            "replace the file or remove it from the folder"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LicbenchError(
            f"{path}: cannot read image ({exc}); replace the file or remove it from the folder"
        ) from exc
    return pil_to_tensor(rgb)


def _upright(img: Image.Image, source: str) -> Image.Image:
    """The image as shown: its EXIF orientation applied (logged when it turns it)."""
    orientation = img.getexif().get(0x0112, 1)
    if orientation in (1, None):
        return img
    log.warning("%s: applied EXIF orientation %s", source, orientation)
    return ImageOps.exif_transpose(img)


def pil_to_tensor(img: Image.Image) -> Tensor:
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255.0).unsqueeze(0)


def array_to_tensor(arr: np.ndarray) -> Tensor:
    """An ``HxWx3`` uint8 array as a ``1x3xHxW`` tensor."""
    return pil_to_tensor(Image.fromarray(np.ascontiguousarray(arr)).convert("RGB"))


def tensor_to_pil(x: Tensor) -> Image.Image:
    arr = x.detach().squeeze(0).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    return Image.fromarray(arr.cpu().numpy())


def save_image(x: Tensor, path: str | object) -> None:
    tensor_to_pil(x).save(path)  # type: ignore[arg-type]


def compute_padding(h: int, w: int, div: int) -> tuple[tuple[int, int, int, int], tuple[int, ...]]:
    """Centred padding to a multiple of ``div`` and its inverse, as CompressAI's eval does."""
    out_h = (h + div - 1) // div * div
    out_w = (w + div - 1) // div * div
    left, top = (out_w - w) // 2, (out_h - h) // 2
    pad = (left, out_w - w - left, top, out_h - h - top)
    return pad, tuple(-p for p in pad)


def pad(x: Tensor, div: int) -> tuple[Tensor, tuple[int, ...]]:
    """Zero-pad ``x`` to a multiple of ``div``; return it and the crop to undo it."""
    p, unpad = compute_padding(x.shape[-2], x.shape[-1], div)
    return F.pad(x, p, mode="constant", value=0.0), unpad


def crop(x: Tensor, unpad: tuple[int, ...]) -> Tensor:
    return F.pad(x, unpad)
