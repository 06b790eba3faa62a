"""`mobilefacenet`: MobileFaceNet face embeddings (Chen et al. 2018) for face-privacy metrics.

The architecture follows Xiaoccer/MobileFaceNet_Pytorch (``core/model.py``) so that its
CASIA-WebFace checkpoint (``model/best/068.ckpt``, LFW 99.3 %) loads strictly. The network
takes 112×96 RGB faces normalised as ``(x·255 − 127.5) / 128`` and returns 128-d features;
as in that repository's LFW evaluation, the features of the image and of its horizontal flip
are concatenated (256-d) and L2-normalised here.

Input layout: 256×256 aligned crops (the 112×96 ArcFace template scaled ×2 and shifted by
(+32, +16)), so the face is the box x 32..224, y 16..240, resized by exactly 1/2.
Also home to the small verification helpers used by face-privacy metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.downstream import FaceEmbedder
from licbench.errors import LicbenchError
from licbench.paths import model_weights
from licbench.plugin.registry import UsesRegistry

WEIGHTS_FILE = "mobilefacenet_casia.ckpt"
CROP_BOX = (32, 16, 224, 240)  # x0, y0, x1, y1 of the face template in a 256x256 crop
INPUT_HW = (112, 96)

# t (expansion), c (channels), n (repeats), s (stride of the first repeat)
BOTTLENECKS = [(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)]


class ConvBlock(nn.Module):
    """Conv (optionally depthwise) + BN (+ PReLU unless linear)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int | tuple[int, int],
        s: int,
        p: int,
        dw: bool = False,
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, groups=cin if dw else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = None if linear else nn.PReLU(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hid = cin * t
        self.residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hid, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hid),
            nn.PReLU(hid),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False),
            nn.BatchNorm2d(hid),
            nn.PReLU(hid),
            nn.Conv2d(hid, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileFaceNetBackbone(nn.Module):
    """The bare network: normalised ``Bx3x112x96`` -> raw ``Bx128`` features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, dw=True)
        layers: list[nn.Module] = []
        cin = 64
        for t, c, n, s in BOTTLENECKS:
            for i in range(n):
                layers.append(Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*layers)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, (7, 6), 1, 0, dw=True, linear=True)
        self.linear1 = ConvBlock(512, 128, 1, 1, 0, linear=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dw_conv1(self.conv1(x))
        x = self.conv2(self.blocks(x))
        return self.linear1(self.linear7(x)).flatten(1)


class MobileFaceNet(FaceEmbedder, UsesRegistry):
    """MobileFaceNet on 256×256 aligned crops -> L2-normalised 256-d (image ‖ flip) embeddings.

    Differentiable w.r.t. the input; the weights are frozen and the model is in eval mode.
    """

    name = "mobilefacenet"

    def __init__(self, weights: str | None = None, flip: bool = True) -> None:
        super().__init__()
        path = (
            Path(weights).expanduser()
            if weights  # else $LICBENCH_DATA/models/mobilefacenet_casia.ckpt
            else model_weights(WEIGHTS_FILE, "mobilefacenet", self.registry.settings.data)
        )
        if not path.is_file():
            raise LicbenchError(
                f"MobileFaceNet weights not found at {path}: set LICBENCH_DATA to the shared data "
                f"folder (models/{WEIGHTS_FILE}) or pass weights=PATH"
            )
        ckpt: Any = torch.load(path, map_location="cpu", weights_only=True)
        state = ckpt.get("net_state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
        self.net = MobileFaceNetBackbone()
        self.net.load_state_dict(state, strict=True)
        self.flip = flip
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> MobileFaceNet:
        """Always stays in eval mode (frozen BN statistics)."""
        return super().train(False)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """``Bx3x256x256`` in [0, 1] -> face box resized to 112×96, ``(255x − 127.5) / 128``."""
        if x.shape[-2:] != (256, 256):
            raise LicbenchError(
                f"mobilefacenet expects 256x256 aligned crops (the faces/ layout), got "
                f"{tuple(x.shape[-2:])}: align and crop the faces first"
            )
        x0, y0, x1, y1 = CROP_BOX
        face = x[..., y0:y1, x0:x1]
        face = F.interpolate(face, size=INPUT_HW, mode="bilinear", align_corners=False)
        return (face * 255.0 - 127.5) / 128.0

    def forward(self, x: Tensor) -> Tensor:
        z = self.preprocess(x)
        feats = self.net(z)
        if self.flip:
            feats = torch.cat([feats, self.net(z.flip(-1))], dim=1)
        return F.normalize(feats, dim=1)


# ---- verification helpers ---------------------------------------------------------------


def cosine_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise cosine similarity of two ``BxD`` embedding batches."""
    return F.cosine_similarity(a, b, dim=1)


def accuracy_at(similarities: Any, labels: Any, threshold: float) -> float:
    """Pair accuracy when pairs with similarity > ``threshold`` are called "same" (label 1)."""
    sims = torch.as_tensor(similarities).detach().double().flatten()
    same = torch.as_tensor(labels).detach().flatten().bool()
    if sims.numel() == 0 or sims.numel() != same.numel():
        raise ValueError("similarities and labels must be non-empty and of equal length")
    return float(((sims > threshold) == same).double().mean())


def best_threshold(similarities: Any, labels: Any) -> tuple[float, float]:
    """The threshold that maximises pair accuracy, and that accuracy.

    Candidates are the midpoints between consecutive sorted similarities (plus both ends);
    among tied candidates the middle one is taken.
    """
    sims = torch.as_tensor(similarities).detach().double().flatten()
    s = sims.sort().values
    cands = torch.cat([s[:1] - 1e-6, (s[1:] + s[:-1]) / 2, s[-1:] + 1e-6])
    accs = torch.tensor([accuracy_at(sims, labels, float(t)) for t in cands])
    best = torch.nonzero(accs == accs.max()).flatten()
    thr = float(cands[best[len(best) // 2]])
    return thr, float(accs.max())
