"""`espnet-cityscapes`: ESPNet (Mehta et al., ECCV 2018), p = 2, q = 8, on Cityscapes.

The architecture follows sacmehta/ESPNet (``test/Model.py``: the decoder's last CBR takes the
level-1 features, 16 + C channels) so that ``pretrained/decoder/espnet_p_2_q_8.pth`` loads
strictly; that file holds the whole network, encoder included (fine-tuned, so it differs
from ``pretrained/encoder/espnet_p_2_q_8.pth``, the standalone ESPNet-C).

Preprocessing as in the repository's ``test/VisualizeResults.py``: BGR pixels in 0..255,
minus the per-channel mean and divided by the std below (B, G, R order), then divided by
255; evaluated at 1024×512. Here the image is resized to ``width`` (aspect kept), padded to a
multiple of 8 with zeros (the mean colour), and the logits are cropped and resized back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.downstream import SegmentationModel
from licbench.errors import LicbenchError
from licbench.paths import model_weights
from licbench.plugin.registry import UsesRegistry
from licbench_builtin.downstream import CITYSCAPES

WEIGHTS_FILE = "decoder_espnet_p_2_q_8.pth"
ENCODER_FILE = "encoder_espnet_p_2_q_8.pth"
BGR_MEAN = (72.3923111, 82.90893555, 73.15840149)
BGR_STD = (45.3192215, 46.15289307, 44.91483307)


class CBR(nn.Module):
    """Conv + BN + PReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = nn.PReLU(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class BR(nn.Module):
    """BN + PReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c, eps=1e-3)
        self.act = nn.PReLU(c)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(x))


class C(nn.Module):
    """A bias-free (optionally dilated) convolution with 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, d: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 * d, dilation=d, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class ESPBlock(nn.Module):
    """Reduce, split into dilations 1..16, hierarchically add, merge (ESP module).

    ``down``: strided 3x3 reduction and a plain BN+PReLU (the DownSamplerB of the original);
    otherwise a 1x1 reduction, optional identity residual and a BR.
    """

    def __init__(self, cin: int, cout: int, down: bool = False, add: bool = True) -> None:
        super().__init__()
        n = cout // 5
        self.c1 = C(cin, n, 3, 2) if down else C(cin, n, 1, 1)
        self.d1 = C(n, cout - 4 * n, 3, 1, 1)
        self.d2 = C(n, n, 3, 1, 2)
        self.d4 = C(n, n, 3, 1, 4)
        self.d8 = C(n, n, 3, 1, 8)
        self.d16 = C(n, n, 3, 1, 16)
        self.down = down
        self.add = add and not down
        if down:
            self.bn: nn.Module = nn.BatchNorm2d(cout, eps=1e-3)
            self.act = nn.PReLU(cout)
        else:
            self.bn = BR(cout)

    def forward(self, x: Tensor) -> Tensor:
        r = self.c1(x)
        a1 = self.d2(r)
        a2 = a1 + self.d4(r)
        a3 = a2 + self.d8(r)
        a4 = a3 + self.d16(r)
        out = torch.cat([self.d1(r), a1, a2, a3, a4], 1)
        if self.down:
            return self.act(self.bn(out))
        return self.bn(x + out if self.add else out)


class InputProjection(nn.Module):
    """The image downsampled ``times``×2 by 3x3 average pooling."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.pool = nn.ModuleList(nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times))

    def forward(self, x: Tensor) -> Tensor:
        for pool in self.pool:
            x = pool(x)
        return x


class ESPNetEncoder(nn.Module):
    """ESPNet-C: logits at 1/8 resolution (also used as the full network's encoder)."""

    def __init__(self, classes: int = 20, p: int = 2, q: int = 8) -> None:
        super().__init__()
        self.level1 = CBR(3, 16, 3, 2)
        self.sample1 = InputProjection(1)
        self.sample2 = InputProjection(2)
        self.b1 = BR(16 + 3)
        self.level2_0 = ESPBlock(16 + 3, 64, down=True)
        self.level2 = nn.ModuleList(ESPBlock(64, 64) for _ in range(p))
        self.b2 = BR(128 + 3)
        self.level3_0 = ESPBlock(128 + 3, 128, down=True)
        self.level3 = nn.ModuleList(ESPBlock(128, 128) for _ in range(q))
        self.b3 = BR(256)
        self.classifier = C(256, classes, 1, 1)

    def features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Level-1 (1/2), level-2 (1/4, concatenated) and level-3 (1/8) feature maps."""
        out0 = self.level1(x)
        cat0 = self.b1(torch.cat([out0, self.sample1(x)], 1))
        out1_0 = self.level2_0(cat0)
        out1 = out1_0
        for layer in self.level2:
            out1 = layer(out1)
        cat1 = self.b2(torch.cat([out1, out1_0, self.sample2(x)], 1))
        out2_0 = self.level3_0(cat1)
        out2 = out2_0
        for layer in self.level3:
            out2 = layer(out2)
        cat2 = self.b3(torch.cat([out2_0, out2], 1))
        return out0, cat1, cat2

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x)[2])


def _up(c: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c, c, 2, stride=2, padding=0, output_padding=0, bias=False)


class ESPNetNet(nn.Module):
    """ESPNet: ESPNet-C plus the light RUM decoder; logits at full resolution (H, W % 8 == 0)."""

    def __init__(self, classes: int = 20, p: int = 2, q: int = 8) -> None:
        super().__init__()
        self.encoder = ESPNetEncoder(classes, p, q)
        self.level3_C = C(128 + 3, classes, 1, 1)
        self.br = nn.BatchNorm2d(classes, eps=1e-3)
        self.conv = CBR(16 + classes, classes, 3, 1)
        self.up_l3 = nn.Sequential(_up(classes))
        self.combine_l2_l3 = nn.Sequential(
            BR(2 * classes), ESPBlock(2 * classes, classes, add=False)
        )
        self.up_l2 = nn.Sequential(_up(classes), BR(classes))
        self.classifier = _up(classes)

    def forward(self, x: Tensor) -> Tensor:
        out0, cat1, cat2 = self.encoder.features(x)
        l3 = self.up_l3(self.br(self.encoder.classifier(cat2)))
        l23 = self.up_l2(self.combine_l2_l3(torch.cat([self.level3_C(cat1), l3], 1)))
        return self.classifier(self.conv(torch.cat([l23, out0], 1)))


def _weights_path(weights: str | None, filename: str, data: Path | None) -> Path:
    """``weights`` given, else ``filename`` under the ``data`` folder's models/."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise LicbenchError(
                f"ESPNet weights not found at {path}; pass an existing weights=PATH"
            )
        return path
    return model_weights(filename, "ESPNet", data, "github sacmehta/ESPNet pretrained/")


def load_state(path: Path) -> dict[str, Tensor]:
    """A plain state dict from a ``.pth`` file (a ``state_dict`` wrapper is unwrapped)."""
    state: Any = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return dict(state)


class ESPNetCityscapes(SegmentationModel, UsesRegistry):
    """ESPNet p=2, q=8 on Cityscapes: RGB ``Bx3xHxW`` in [0, 1] -> ``Bx20xHxW`` logits.

    ``width``: the image is resized (bilinear, aspect kept) to this width before the network,
    as the original evaluates at 1024×512; ``None`` runs at the input resolution.
    Differentiable w.r.t. the input; the weights are frozen and the model is in eval mode.
    """

    name = "espnet-cityscapes"
    classes = {c: i for i, c in enumerate(CITYSCAPES)}
    multiple = 8
    mean: Tensor  # buffers
    std: Tensor

    def __init__(self, weights: str | None = None, width: int | None = 1024) -> None:
        super().__init__()
        self.net = ESPNetNet(classes=len(CITYSCAPES), p=2, q=8)
        data = None if weights else self.registry.settings.data
        self.net.load_state_dict(
            load_state(_weights_path(weights, WEIGHTS_FILE, data)), strict=True
        )
        self.width = width
        mean = torch.tensor(BGR_MEAN[::-1]) / 255.0  # RGB order, in [0, 1] units
        std = torch.tensor(BGR_STD[::-1])
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> ESPNetCityscapes:
        """Always stays in eval mode (frozen BN statistics)."""
        return super().train(False)

    def normalise(self, x: Tensor) -> Tensor:
        """RGB [0, 1] -> the original's input: ((255·BGR − mean) / std) / 255, in RGB order.

        The network's first layer is fed channels in BGR order, so the flip happens in forward.
        """
        return (x - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        z = self.normalise(x).flip(1)  # BGR, as cv2.imread gives
        if self.width is not None and self.width != w:
            size = (max(1, round(h * self.width / w)), self.width)
            z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
        zh, zw = z.shape[-2:]
        ph, pw = -zh % self.multiple, -zw % self.multiple
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph))  # zeros: the mean colour
        logits = self.net(z)[..., :zh, :zw]
        if (zh, zw) != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        return logits
