"""Training-free randomized defenses (Song, Choi, Han): encode a randomly transformed image
and invert the transform after decoding.

The transform set: the 8 flips / 90° rotations, a stretch of 0–64 px per axis and a shift
of 0–64 px per axis (replicate-padding at the top/left, cropped off after decoding).

- `input-randomization` (naive): always encode one random draw.
- `k-way` (Algorithm 2): rate-distortion loss of the identity path and of K−1 random draws,
  with the rate from the entropy model's likelihoods (no entropy coding); only the best is
  entropy-coded. `two-way` (Algorithm 1) is K = 2.

Draws are seeded per image (the image's 8-bit pixels and the defense's seed), so runs repeat;
the chosen transform is stored in the bitstream, so decoding needs nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from licbench.api.codec import Codec, LearnedCodec
from licbench.api.defense import Transform, TransformDefense
from licbench.errors import LicbenchError
from licbench.hashing import derive_seed
from licbench.images import crop, pad
from licbench.rd import likelihood_bits, lmbda_for, rd_loss
from licbench_builtin.defenses.params import KWayParams, RandomizedParams


@dataclass(frozen=True)
class RandomTransform(Transform):
    """Dihedral element ``d`` (0–7), stretch (sh, sw) px, shift (dy, dx) px."""

    d: int = 0
    sh: int = 0
    sw: int = 0
    dy: int = 0
    dx: int = 0

    def forward(self, x: Tensor) -> Tensor:
        y = torch.rot90(x, self.d % 4, dims=(-2, -1))
        if self.d >= 4:
            y = y.flip(-1)
        if self.sh or self.sw:
            h, w = y.shape[-2:]
            y = F.interpolate(
                y, size=(h + self.sh, w + self.sw), mode="bicubic", align_corners=False
            )
        if self.dy or self.dx:
            y = F.pad(y, (self.dx, 0, self.dy, 0), mode="replicate")
        return y

    def inverse(self, y: Tensor, size: tuple[int, int]) -> Tensor:
        y = y[..., self.dy :, self.dx :]
        h, w = size if self.d % 2 == 0 else (size[1], size[0])
        if self.sh or self.sw:
            y = F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False)
        if self.d >= 4:
            y = y.flip(-1)
        return torch.rot90(y, -(self.d % 4), dims=(-2, -1))

    def spec(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self == RandomTransform()


def sample(gen: torch.Generator, max_stretch: int = 64, max_shift: int = 64) -> RandomTransform:
    """One random draw from the transform set."""
    r = lambda n: int(torch.randint(n + 1, (1,), generator=gen, device=gen.device))  # noqa: E731
    return RandomTransform(r(7), r(max_stretch), r(max_stretch), r(max_shift), r(max_shift))


def image_seed(x: Tensor, seed: int, draw: int = 0) -> int:
    """A seed from the image's 8-bit pixels, the defense's seed and the draw's index."""
    data = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy().tobytes()
    return derive_seed(seed, draw, hashlib.sha256(data).hexdigest())


def path_loss(codec: Codec, x: Tensor, t: RandomTransform, lmbda: float) -> float:
    """Estimated bits per pixel + λ·255²·MSE of the path through transform ``t``."""
    y = t.forward(x).clamp(0, 1)
    if isinstance(codec, LearnedCodec):
        yp, unpad = pad(y, codec.pad_multiple)
        with torch.no_grad():
            out = codec.forward(yp)
        bits = float(likelihood_bits(out["likelihoods"]))
        y_hat = crop(out["x_hat"], unpad).clamp(0, 1)
    else:
        enc = codec.compress(y)
        bits, y_hat = float(enc.num_bits()), codec.decompress(enc)
    x_hat = t.inverse(y_hat, cast(tuple[int, int], tuple(x.shape[-2:])))
    return rd_loss(bits / (x.shape[-2] * x.shape[-1]), float(F.mse_loss(x_hat, x)), lmbda)






class RandomizedDefense(TransformDefense):
    """Encode through one of ``k`` candidate transforms: identity + k−1 random draws."""

    Params = RandomizedParams
    params: RandomizedParams
    randomized = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.draw = 0
        self.last_losses: list[float] = []

    @property
    def k(self) -> int:
        return 2

    def redraw(self, draw: int) -> None:
        self.draw = draw

    def sample_transform(self, gen: torch.Generator) -> RandomTransform:
        return sample(gen, self.params.max_stretch, self.params.max_shift)

    def candidates(self, x: Tensor) -> list[RandomTransform]:
        seed = image_seed(x, self.params.seed, self.draw)
        gen = torch.Generator().manual_seed(seed)
        return [RandomTransform()] + [self.sample_transform(gen) for _ in range(self.k - 1)]

    def transform_for(self, codec: Codec, x: Tensor) -> RandomTransform:
        cands = self.candidates(x)
        if len(cands) == 1:
            return cands[0]
        lmbda = lmbda_for(codec.quality)
        self.last_losses = [path_loss(codec, x, t, lmbda) for t in cands]
        return cands[min(range(len(cands)), key=self.last_losses.__getitem__)]

    def transform_from_spec(self, spec: dict[str, Any]) -> RandomTransform:
        p = self.params
        bounds = {"d": 7, "sh": p.max_stretch, "sw": p.max_stretch, "dy": p.max_shift}
        bounds["dx"] = p.max_shift
        if set(spec) != set(bounds) or not all(
            isinstance(spec[k], int) and 0 <= spec[k] <= top for k, top in bounds.items()
        ):
            raise LicbenchError(f"{self.name}: stream holds a bad transform {spec!r}; re-encode")
        return RandomTransform(**spec)


class KWay(RandomizedDefense):
    """K-way compression (Song, Choi, Han, Algorithm 2): the best of identity + K−1 draws."""

    name = "k-way"
    adaptive_attack = "kway-adaptive"
    Params = KWayParams  # type: ignore[assignment]  # mypy misses positional Field defaults
    params: KWayParams

    @property
    def k(self) -> int:
        return self.params.k


class TwoWay(RandomizedDefense):
    """Two-way compression (Algorithm 1): identity or one random draw, whichever is better."""

    name = "two-way"
    adaptive_attack = "kway-adaptive"


class InputRandomization(RandomizedDefense):
    """Naive randomization: always encode one random draw, then invert it."""

    name = "input-randomization"
    adaptive_attack = "eot"  # one random path: EoT over its distribution

    def transform_for(self, codec: Codec, x: Tensor) -> RandomTransform:
        return self.candidates(x)[1]
