"""CompressAI's image models as codecs: zoo weights, local checkpoints or random init."""

from __future__ import annotations

import copy
import logging
import struct
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from licbench.api.codec import Encoded, LearnedCodec
from licbench.checkpoint import read_state_dict
from licbench.errors import LicbenchError
from licbench.images import crop, pad
from licbench.rd import likelihood_bits
from licbench_builtin.codecs import (
    class_name,
    lite_path,
)
from licbench_builtin.codecs import params as codec_params
from licbench_builtin.codecs.params import CompressAIParams, LiteParams, params_name
from licbench_builtin.codecs.strips import bands

log = logging.getLogger("licbench")
G_STRIDE = 16  # the stride of g_a (and of g_s, upwards) in every CompressAI image model

def serialize_strings(strings: list[list[bytes]]) -> bytes:
    out = [struct.pack("<B", len(strings))]
    for group in strings:
        if len(group) != 1:
            raise ValueError("licbench bitstreams hold one image (batch size 1)")
        out.append(struct.pack("<I", len(group[0])) + group[0])
    return b"".join(out)


def deserialize_strings(payload: bytes) -> list[list[bytes]]:
    """The entropy-coded strings of a payload; its lengths must add up exactly."""
    try:
        (n,), pos, strings = struct.unpack_from("<B", payload), 1, []
        for _ in range(n):
            (length,) = struct.unpack_from("<I", payload, pos)
            strings.append([payload[pos + 4 : pos + 4 + length]])
            pos += 4 + length
    except struct.error:
        raise LicbenchError("truncated payload; re-encode the image") from None
    if pos != len(payload):
        raise LicbenchError(f"payload holds {len(payload)} bytes, its strings {pos}; re-encode")
    return strings






class CompressAICodec(LearnedCodec):
    """A CompressAI zoo architecture at one quality.

    Weights, in order of precedence: ``checkpoint`` (a CompressAI state dict),
    ``pretrained`` (downloaded through ``compressai.zoo``), else a seeded random init
    (for tests; the spec records ``weights: random-init``).
    """

    arch = ""
    Params = CompressAIParams  # type: ignore[assignment]  # quality narrowed to int
    params: CompressAIParams

    def __init__(self, quality: float, **params: Any) -> None:
        super().__init__(quality, **params)
        p = self.params
        self.name = self.arch
        self.metric = p.metric
        self.checkpoint = str(p.checkpoint) if p.checkpoint else None
        self.pretrained = p.pretrained and not p.checkpoint
        if p.checkpoint:
            self.model = self.from_checkpoint(Path(p.checkpoint))
            self.weights = f"checkpoint:{Path(p.checkpoint).name}"
        else:
            self.model = self._from_zoo(p.seed)
            self.weights = "pretrained" if self.pretrained else "random-init"
        self.model.eval()

    def _from_zoo(self, seed: int) -> torch.nn.Module:
        from compressai.zoo import image_models

        factory = image_models[self.arch]
        if not self.pretrained:
            log.warning("%s q=%s: random weights (tests only)", self.arch, self.quality)
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                net = factory(quality=int(self.quality), metric=self.metric, pretrained=False)
            net.update(force=True)
            return net
        try:
            return factory(
                quality=int(self.quality), metric=self.metric, pretrained=True, progress=False
            )
        except Exception as exc:
            raise LicbenchError(
                f"cannot fetch pretrained {self.arch} q={self.quality} weights "
                f"({type(exc).__name__}: {exc}); offline machines pass `checkpoint: PATH` "
                "(a CompressAI state dict) instead of `pretrained: true`"
            ) from exc

    def from_checkpoint(self, path: Path) -> torch.nn.Module:
        from compressai.zoo.image import model_architectures

        state = read_state_dict(path)
        try:
            net = model_architectures[self.arch].from_state_dict(state)
        except (RuntimeError, KeyError, AttributeError, IndexError) as exc:
            first = str(exc).splitlines()[0][:120]
            raise LicbenchError(
                f"{path}: not a {self.arch} checkpoint ({first}); "
                "name the architecture it was trained with"
            ) from exc
        net.update(force=True)
        return net

    def to(self, device: str | torch.device) -> CompressAICodec:
        super().to(device)
        self.model.to(self.device)
        self._coder: torch.nn.Module | None = None
        return self

    @property
    def autoregressive(self) -> bool:
        """A context model (mbt2018, cheng2020): its entropy coding is a serial loop."""
        return hasattr(self.model, "context_prediction")

    def coder(self) -> tuple[torch.nn.Module, torch.device]:
        """The model that entropy-codes, and its device: an autoregressive model codes on a
        CPU copy (CompressAI advises against its serial loop on a GPU, and a CPU decode
        recomputes the encoder's context exactly), with the model's current weights; every
        other model where it is."""
        if not (self.autoregressive and self.device.type != "cpu"):
            return self.model, self.device
        coder = getattr(self, "_coder", None)
        if coder is None:
            coder = self._coder = copy.deepcopy(self.model).cpu().eval()
        coder.load_state_dict(self.model.state_dict())  # a backdoor may have changed it
        return coder, torch.device("cpu")

    def spec(self) -> dict[str, Any]:
        params: dict[str, Any] = {"metric": self.metric}
        if self.checkpoint:
            params["checkpoint"] = self.checkpoint
        elif self.pretrained:
            params["pretrained"] = True
        return {
            "codec": self.name,
            "quality": self.quality,
            "params": params,
            "weights": self.weights,
        }

    @torch.no_grad()
    def compress(self, x: Tensor) -> Encoded:
        h, w = x.shape[-2:]
        model, device = self.coder()
        xp, _ = pad(x.to(device), self.pad_multiple)
        with bands(model, G_STRIDE):
            # a compressai method (torch types Module attributes as Tensor | Module)
            out = model.compress(xp)  # type: ignore[operator]
        strings = out["strings"]
        bits = 8 * sum(len(s[0]) for s in strings)
        meta = {"shape": [int(v) for v in out["shape"]]}
        return Encoded(serialize_strings(strings), int(h), int(w), meta, bits=bits)

    @torch.no_grad()
    def decompress(self, enc: Encoded) -> Tensor:
        strings = deserialize_strings(enc.payload)
        # the shape of the last latent (z, or y without a hyperprior) and the string count
        m, div = self.pad_multiple, self.downsampling_factor
        shape = [-(-enc.height // m) * m // div, -(-enc.width // m) * m // div]
        n = 2 if hasattr(self.model, "gaussian_conditional") else 1
        if enc.meta.get("shape") != shape or len(strings) != n:
            raise LicbenchError(
                f"payload of latent shape {enc.meta.get('shape')!r} and {len(strings)} strings "
                f"for a {enc.width}x{enc.height} image (expected {shape}, {n}); re-encode it"
            )
        model, _ = self.coder()
        with bands(model, G_STRIDE):
            # a compressai method (torch types Module attributes as Tensor | Module)
            x_hat = model.decompress(strings, shape)["x_hat"]  # type: ignore[operator]
        _, unpad = pad(torch.empty(1, 1, enc.height, enc.width, device="meta"), self.pad_multiple)
        return crop(x_hat, unpad).to(self.device)

    @torch.no_grad()
    def estimate_bits(self, x: Tensor) -> float:
        xp, _ = pad(x.to(self.device), self.pad_multiple)
        with bands(self.model, G_STRIDE):
            out = self.model(xp)
        return float(likelihood_bits(out["likelihoods"]))


class LiteCodec(CompressAICodec):
    """A reduced-width model trained by licbench and shipped in the package (no download).

    How each was trained: docs/training.md; the training record sits beside the weights as
    ``weights/ARCH-lite-qQ.pth.tar.json``.
    """

    Params = LiteParams  # type: ignore[assignment]

    def __init__(self, quality: float) -> None:
        LearnedCodec.__init__(self, quality)  # checks the shipped qualities
        path = lite_path(self.arch, self.quality)
        self.name, self.metric, self.pretrained = f"{self.arch}-lite", "mse", False
        self.checkpoint = str(path)
        self.model = self.from_checkpoint(path).eval()
        self.weights = f"shipped:{path.name}"

    def spec(self) -> dict[str, Any]:
        return {"codec": self.name, "quality": self.quality, "params": {}, "weights": self.weights}


def _arch_class(arch: str, lite: bool = False) -> type[CompressAICodec]:
    base = LiteCodec if lite else CompressAICodec
    params = getattr(codec_params, params_name(arch, lite))
    attrs = {"arch": arch, "__module__": __name__, "Params": params}
    return type(class_name(arch, lite), (base,), attrs)


# One class per zoo architecture, so that each registers under a lazy "module:Class" target.
Bmshj2018FactorizedCodec = _arch_class("bmshj2018-factorized")
Bmshj2018HyperpriorCodec = _arch_class("bmshj2018-hyperprior")
Mbt2018MeanCodec = _arch_class("mbt2018-mean")
Mbt2018Codec = _arch_class("mbt2018")
Cheng2020AnchorCodec = _arch_class("cheng2020-anchor")
Cheng2020AttnCodec = _arch_class("cheng2020-attn")
Bmshj2018HyperpriorLiteCodec = _arch_class("bmshj2018-hyperprior", lite=True)
Mbt2018MeanLiteCodec = _arch_class("mbt2018-mean", lite=True)
Cheng2020AnchorLiteCodec = _arch_class("cheng2020-anchor", lite=True)
