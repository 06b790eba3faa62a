"""Rate, distortion and timing metrics, computed per image.

PSNR and MS-SSIM follow CompressAI's evaluation: both images are rounded to 8 bits first
(``licbench.rd.psnr_8bit``).
"""

from __future__ import annotations

from pytorch_msssim import ms_ssim

from licbench.api.metric import Metric, Sample
from licbench.rd import psnr_8bit, psnr_from_mse, to_8bit


class Bpp(Metric):
    """Bits per pixel of the real bitstream."""

    name, higher_is_better, unit = "bpp", False, "bit/px"

    def compute(self, s: Sample) -> float:
        return s.bits / s.pixels


class BppEstimate(Metric):
    """Bits per pixel estimated from the entropy model's likelihoods (learned codecs)."""

    name, higher_is_better, unit = "bpp-estimate", False, "bit/px"

    def compute(self, s: Sample) -> float | None:
        return None if s.est_bits is None else s.est_bits / s.pixels


class Psnr(Metric):
    """PSNR (RGB, 8-bit) of the reconstruction against the codec's input."""

    name, higher_is_better, unit = "psnr", True, "dB"

    def compute(self, s: Sample) -> float:
        return psnr_8bit(s.x_in, s.x_hat)


class MsSsim(Metric):
    """MS-SSIM (RGB, 8-bit) of the reconstruction against the codec's input."""

    name, higher_is_better, unit = "ms-ssim", True, ""
    min_size = 161  # five scales of an 11-pixel window
    WHOLE_PIXELS = 4 * 2**20  # larger images are scored a channel at a time

    def compute(self, s: Sample) -> float:
        a, b = to_8bit(s.x_in), to_8bit(s.x_hat.to(s.x_in.device))
        if a[0, 0].numel() <= self.WHOLE_PIXELS:
            return float(ms_ssim(a, b, data_range=255))
        # MS-SSIM is the mean of per-channel values: one channel at a time holds 1/3 the memory
        per = [ms_ssim(a[:, c : c + 1], b[:, c : c + 1], data_range=255) for c in range(3)]
        return float(sum(per) / 3)


class PsnrClean(Metric):
    """PSNR (RGB, 8-bit) of the reconstruction against the clean image, not the input."""

    name, higher_is_better, unit = "psnr-clean", True, "dB"

    def compute(self, s: Sample) -> float:
        return psnr_8bit(s.x, s.x_hat)


class InputPsnr(Metric):
    """PSNR of the codec's input (attacked or poisoned) against the clean image, unrounded."""

    name, higher_is_better, unit = "input-psnr", True, "dB"

    def compute(self, s: Sample) -> float:
        return psnr_from_mse((s.x_in.float() - s.x.float().to(s.x_in.device)).pow(2).mean())


class InputLinf(Metric):
    """Largest absolute change of the input against the clean image (in 0..255 units)."""

    name, higher_is_better, unit = "input-linf", False, "/255"

    def compute(self, s: Sample) -> float:
        return 255 * (s.x_in.float() - s.x.float().to(s.x_in.device)).abs().max().item()


class EncodeSeconds(Metric):
    """Wall-clock seconds of compress() (CUDA-synchronised)."""

    name, higher_is_better, unit = "encode-seconds", False, "s"

    def compute(self, s: Sample) -> float:
        return s.encode_s


class DecodeSeconds(Metric):
    """Wall-clock seconds of decompress() (CUDA-synchronised)."""

    name, higher_is_better, unit = "decode-seconds", False, "s"

    def compute(self, s: Sample) -> float:
        return s.decode_s
