"""What test-time attacks maximise: a differentiable proxy of it, and its real value.

The proxy differentiates through the codec in eval mode with an explicit quantization
proxy (CompressAI's eval forward rounds, so its input gradient is exactly zero):

- ``noise``: additive uniform noise, the training-time proxy;
- ``ste``: rounding forward, identity backward (latents that round to zero get no gradient
  of their own);
- ``none``: no quantization at all (the likelihoods of the continuous latents).

Objectives: ``rate`` (bits of y and of the hyperlatent z, each with a weight, so z alone is
``y_weight: 0``), ``distortion`` (MSE of the reconstruction to the clean image) or ``rd``
(rate + λ·255²·distortion). The rate objective never runs the decoder. :func:`real_score`
measures the same objective on the real bitstream: attacks choose their final iterate by it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.attack import deliver
from licbench.api.codec import Codec, LearnedCodec
from licbench.api.defense import DefendedCodec, Transform, straight_through
from licbench.errors import LicbenchError
from licbench.images import crop, pad
from licbench.rd import likelihood_bits, lmbda_for, rd_loss
from licbench_builtin.attacks.params import ObjectiveParams
from licbench_builtin.codecs.compressai import deserialize_strings


class Noise:
    """Where a noise proxy draws: one generator per image of the batch, so that each image
    gets the noise a run of it alone would draw (:meth:`images` narrows the generators to
    the images of one forward pass)."""

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)
        self._active = self.generators

    @contextlib.contextmanager
    def images(self, index: Sequence[int]) -> Iterator[None]:
        saved, self._active = self._active, [self.generators[i] for i in index]
        try:
            yield
        finally:
            self._active = saved

    def draw(self, like: Tensor, dim: int) -> Tensor:
        """Uniform noise in [-0.5, 0.5) shaped as ``like``, whose images lie along ``dim``."""
        parts = like.chunk(len(self._active), dim)
        return torch.cat(
            [
                torch.empty_like(v).uniform_(-0.5, 0.5, generator=g)
                for v, g in zip(parts, self._active, strict=True)  # one per image
            ],
            dim,
        )


@contextlib.contextmanager
def quantization_proxy(model: nn.Module, proxy: str, noise: Noise | None = None) -> Iterator[None]:
    """Make the model's entropy models differentiable w.r.t. their input for one pass
    (``noise``: where the noise proxy draws; else torch's global stream, as CompressAI)."""
    from compressai.entropy_models import EntropyBottleneck, EntropyModel

    models = [m for m in model.modules() if isinstance(m, EntropyModel)]
    saved = [(m, m.training, m.__dict__.get("quantize")) for m in models]
    for m in models:
        if proxy == "noise":
            m.train()
            if noise is not None:  # the bottleneck quantizes (C, 1, B·H·W): images on the last dim
                dim = -1 if isinstance(m, EntropyBottleneck) else 0
                m.quantize = _noise_quantize(m.quantize, noise, dim)  # type: ignore[method-assign]
        else:
            m.quantize = _proxy_quantize(m.quantize, proxy == "none")  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m, training, quantize in saved:
            m.train(training)
            if quantize is None:
                m.__dict__.pop("quantize", None)
            else:
                m.quantize = quantize  # type: ignore[method-assign]


def _noise_quantize(quantize: Any, noise: Noise, dim: int) -> Any:
    """CompressAI's additive-noise quantization, the noise drawn per image from ``noise``."""

    def noisy(x: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
        if mode != "noise":
            return quantize(x, mode, means)  # type: ignore[no-any-return]
        return x + noise.draw(x, dim)

    return noisy


@contextlib.contextmanager
def real_mode(codec: Codec, x: Tensor) -> Iterator[None]:
    """The codec as it really runs, inside an attack's quantization proxy: its entropy
    models in eval mode with their own quantization, and the random state kept, so that a
    measurement (a defense's choice of path runs the model forward) neither sees the
    proxy's noise nor draws from the stream the attack's next steps use."""
    from compressai.entropy_models import EntropyModel

    inner = codec.inner if isinstance(codec, DefendedCodec) else codec
    model = inner.model if isinstance(inner, LearnedCodec) else None
    models = [m for m in model.modules() if isinstance(m, EntropyModel)] if model else []
    saved = [(m, m.training, m.__dict__.pop("quantize", None)) for m in models]
    gpus = [x.device.index or 0] if x.device.type == "cuda" else []
    try:
        for m in models:
            m.eval()
        with torch.random.fork_rng(devices=gpus):
            yield
    finally:
        for m, training, quantize in saved:
            m.train(training)
            if quantize is not None:
                m.quantize = quantize  # type: ignore[method-assign]


def _proxy_quantize(quantize: Any, skip: bool) -> Any:
    """Round in the forward pass and pass the gradient through (``skip``: do not round);
    the symbols of entropy coding stay exact."""

    def proxy(x: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
        if mode == "symbols":
            return quantize(x, mode, means)  # type: ignore[no-any-return]
        return x if skip else straight_through(x, quantize(x, mode, means))

    return proxy


class _NoDecoder(nn.Module):
    def forward(self, y: Tensor) -> Tensor:
        return y.new_zeros(())


@contextlib.contextmanager
def without_decoder(model: nn.Module) -> Iterator[None]:
    """Skip the synthesis transform g_s for passes whose ``x_hat`` is not used."""
    g_s = model.g_s
    model.g_s = _NoDecoder()
    try:
        yield
    finally:
        model.g_s = g_s


def learned_core(codec: Codec) -> LearnedCodec:
    inner = codec.inner if isinstance(codec, DefendedCodec) else codec
    if not isinstance(inner, LearnedCodec):
        raise LicbenchError(f"gradient attacks need a learned codec; {codec.name} has no model")
    return inner


def weighted_bits(likelihoods: dict[str, Tensor], p: ObjectiveParams) -> Tensor:
    """The bits of y and z of each image, weighted by ``y_weight`` and ``z_weight`` (a
    batch of one: the sum over the whole tensor, the float it had before attacks batched)."""
    weights = {"y": p.y_weight, "z": p.z_weight}
    if len(next(iter(likelihoods.values()))) == 1:
        return likelihood_bits(likelihoods, weights=weights).reshape(1)
    return likelihood_bits(likelihoods, per_image=True, weights=weights)


def objective(
    p: ObjectiveParams,
    core: LearnedCodec,
    likelihoods: dict[str, Tensor],
    x_hat: Tensor | None,
    x: Tensor,
) -> Tensor:
    """The objective of one pass, one value per image: weighted bits per pixel, the MSE of
    the reconstruction ``x_hat`` to the clean ``x`` (not needed for ``rate``), or their RD
    combination."""
    rate = weighted_bits(likelihoods, p) / (x.shape[-2] * x.shape[-1])
    if p.objective == "rate":
        return rate
    assert x_hat is not None
    mse = torch.stack([F.mse_loss(a, b) for a, b in zip(x_hat, x, strict=True)])  # per image
    return mse if p.objective == "distortion" else rd_loss(rate, mse, lmbda_for(core.quality))


def proxy_loss(
    p: ObjectiveParams,
    core: LearnedCodec,
    x_adv: Tensor,
    x: Tensor,
    ts: Sequence[Transform],
    noise: Noise | None = None,
) -> Tensor:
    """The objective through the quantization proxy in force, one value per image, image
    ``i`` through transform ``ts[i]``: one pass for the batch where the transforms are one
    and the same, or their outputs share a size; else one pass per image (``noise``
    narrowed to it)."""
    if all(t.spec() == ts[0].spec() for t in ts):
        return _pass_loss(p, core, ts[0].forward(x_adv), x, ts[:1])
    ys = [t.forward(v) for v, t in zip(each_image(x_adv), ts, strict=True)]
    if len({y.shape for y in ys}) == 1:
        return _pass_loss(p, core, torch.cat(ys), x, ts)
    values = []
    for i, y in enumerate(ys):
        with noise.images([i]) if noise is not None else contextlib.nullcontext():
            values.append(_pass_loss(p, core, y, x[i : i + 1], ts[i : i + 1]))
    return torch.cat(values)


def each_image(x: Tensor) -> list[Tensor]:
    """The images of a batch, each as a ``(1, C, H, W)`` tensor; a batch of one is itself
    (a slice of it would change the numerics of autograd's input gradient)."""
    return [x] if len(x) == 1 else list(x.split(1))


def _pass_loss(
    p: ObjectiveParams, core: LearnedCodec, y: Tensor, x: Tensor, ts: Sequence[Transform]
) -> Tensor:
    """The objective of one forward pass of the transformed images ``y``, whose inverse is
    ``ts[i]`` for image ``i`` (or ``ts[0]`` for all)."""
    yp, unpad = pad(y, core.pad_multiple)
    if p.objective == "rate":
        with without_decoder(core.model):
            return objective(p, core, core.model(yp)["likelihoods"], None, x)
    out = core.model(yp)
    x_hat, size = crop(out["x_hat"], unpad), cast(tuple[int, int], tuple(x.shape[-2:]))
    if len(ts) == 1:
        x_hat = ts[0].inverse(x_hat, size)
    else:
        x_hat = torch.cat([t.inverse(v, size) for v, t in zip(x_hat.split(1), ts, strict=True)])
    return objective(p, core, out["likelihoods"], x_hat, x)


def _real_bits(codec: Codec, payload: bytes, total: int, p: ObjectiveParams) -> float:
    if (p.y_weight, p.z_weight) == (1.0, 1.0):
        return float(total)
    learned_core(codec)  # y and z exist in learned codecs only
    strings = deserialize_strings(payload)  # [y] or [y, z] (CompressAI's order)
    bits = [8 * sum(len(s) for s in group) for group in strings]
    return p.y_weight * bits[0] + (p.z_weight * bits[1] if len(bits) > 1 else 0.0)


@torch.no_grad()
def real_score(p: ObjectiveParams, codec: Codec, x_adv: Tensor, x: Tensor) -> float:
    """The objective on ``codec``'s real bitstream: entropy-coded bits per pixel, the MSE of
    the decoded image to the clean one, or their RD combination."""
    enc = codec.compress(x_adv)
    bpp = _real_bits(codec, enc.payload, enc.num_bits(), p) / (x.shape[-2] * x.shape[-1])
    if p.objective == "rate":
        return bpp
    mse = float(F.mse_loss(codec.decompress(enc).to(x), x))
    if p.objective == "distortion":
        return mse
    return float(
        rd_loss(torch.tensor(bpp), torch.tensor(mse), lmbda_for(learned_core(codec).quality))
    )


def project(x: Tensor, x_adv: Tensor, eps: float) -> Tensor:
    """Into the L∞ ball of radius ``eps`` around ``x``, and into [0, 1]."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)


def checkpoints(iters: int) -> list[int]:
    """Croce & Hein's checkpoints, where APGD may halve its step and where every gradient
    attack measures its iterates on the real bitstream: p₀ = 0, p₁ = 0.22,
    p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), times ``iters``."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(v * iters) for v in p[1:] if v < 1} - {0})


class Best:
    """The best of several candidate inputs by the real objective, each measured as it will
    be delivered (8-bit, within ε: :func:`~licbench.api.attack.deliver`) and once only
    (ties: the earlier)."""

    def __init__(self, p: ObjectiveParams, codec: Codec, x: Tensor) -> None:
        self.p, self.codec, self.x = p, codec, x
        self.x_best: Tensor | None = None
        self.score = float("-inf")
        self.measured = 0  # real encodes made
        self._seen: set[str] = set()  # digests of the delivered 8-bit pixels measured

    def offer(self, *candidates: Tensor) -> float:
        """Measure each candidate not measured before; the best score so far."""
        for x_adv in candidates:
            x_in = deliver(x_adv, self.x, self.p.eps)
            pixels = (x_in * 255).round().to(torch.uint8).cpu().numpy().tobytes()
            digest = hashlib.sha256(pixels).hexdigest()
            if digest in self._seen:
                continue  # the same delivered image: same bitstream, same score
            self._seen.add(digest)
            self.measured += 1
            with real_mode(self.codec, self.x):
                score = real_score(self.p, self.codec, x_in, self.x)
            if score > self.score:
                self.x_best, self.score = x_in, score
        return self.score

    @property
    def value(self) -> Tensor:
        assert self.x_best is not None
        return self.x_best
