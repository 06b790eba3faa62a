"""ESPNetv2 (width s = 2.0) semantic segmentation: the frozen downstream models
`espnetv2-cityscapes` and `espnetv2-pascal`.

An independent implementation of the architecture of Mehta et al., "ESPNetv2" (CVPR 2019),
as released in github sacmehta/EdgeNets (MIT): an EESP encoder (levels 1-4 of the ImageNet
network, with input reinforcement) and a bottom-up decoder of efficient pyramid-pooling
blocks. Module and parameter names follow the released checkpoints, so that they load with
``load_state_dict(strict=True)`` into the model itself. ``forward`` normalises with the
ImageNet mean/std, zero-pads (the mean colour) the bottom and right to a multiple of 32, and
crops the logits back, all differentiably.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from licbench.api.downstream import SegmentationModel
from licbench.errors import LicbenchError
from licbench.paths import model_weights
from licbench.plugin.registry import UsesRegistry
from licbench_builtin.downstream import CITYSCAPES, PASCAL

WIDTHS = (32, 128, 256, 512)  # output channels of encoder levels 1-4 at s = 2.0
REPEATS = (3, 7)  # EESP blocks after the level-3 and level-4 down-samplers
BRANCHES = 4
REINF = 3  # channels of the input-reinforcement branch
PAD = 32


# --- encoder: layers named like EdgeNets' nn_layers/espnet_utils.py -----------------------


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (+ PReLU unless ``act`` is False)."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout) if act else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return x if self.act is None else self.act(x)


class BNAct(nn.Module):
    """BatchNorm + PReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.PReLU(c)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(x))


class DilatedDW(nn.Module):
    """Depth-wise 3x3 convolution with dilation ``d`` (no bias)."""

    def __init__(self, c: int, stride: int, d: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride, d, dilation=d, groups=c, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class EESP(nn.Module):
    """Reduce (group 1x1) -> split into K dilated depth-wise branches -> hierarchical fusion
    -> merge (BN-PReLU, group 1x1); residual + PReLU unless it is a down-sampling branch."""

    def __init__(self, cin: int, cout: int, stride: int = 1, r_lim: int = 7) -> None:
        super().__init__()
        n = cout // BRANCHES
        assert n * BRANCHES == cout, f"{cout} channels do not split into {BRANCHES} branches"
        self.stride = stride
        self.proj_1x1 = ConvBN(cin, n, 1, groups=BRANCHES)
        # kernel sizes 3, 5, 7, ... capped at r_lim (back to 3), as dilations of a 3x3 kernel
        sizes = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(BRANCHES))
        self.spp_dw = nn.ModuleList(DilatedDW(n, stride, (s - 1) // 2) for s in sizes)
        self.conv_1x1_exp = ConvBN(cout, cout, 1, groups=BRANCHES, act=False)
        self.br_after_cat = BNAct(cout)
        self.module_act = nn.PReLU(cout)  # unused when down-sampling, but in the checkpoint

    def forward(self, x: Tensor) -> Tensor:
        reduced = self.proj_1x1(x)
        outs = [self.spp_dw[0](reduced)]
        for branch in self.spp_dw[1:]:
            outs.append(branch(reduced) + outs[-1])
        y = self.conv_1x1_exp(self.br_after_cat(torch.cat(outs, 1)))
        if self.stride == 2:
            return y  # the DownSampler concatenates, fuses and activates
        if y.shape == x.shape:
            y = y + x
        return self.module_act(y)


class DownSampler(nn.Module):
    """Halves the resolution: [avg-pool(x), strided EESP(x)] + a projection of the image
    pooled to the same size (input reinforcement), then PReLU."""

    def __init__(self, cin: int, cout: int, r_lim: int) -> None:
        super().__init__()
        self.eesp = EESP(cin, cout - cin, stride=2, r_lim=r_lim)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1)
        self.inp_reinf = nn.Sequential(ConvBN(3, REINF, 3), ConvBN(REINF, cout, 1, act=False))
        self.act = nn.PReLU(cout)

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        y = torch.cat([self.avg(x), self.eesp(x)], 1)
        return self.act(y + self.inp_reinf(image))


class EESPNetEncoder(nn.Module):
    """Levels 1-4 of the ImageNet EESPNet (level 5 and the classifier are not used)."""

    def __init__(self) -> None:
        super().__init__()
        c1, c2, c3, c4 = WIDTHS
        self.level1 = ConvBN(3, c1, 3, stride=2)
        self.level2_0 = DownSampler(c1, c2, r_lim=13)
        self.level3_0 = DownSampler(c2, c3, r_lim=11)
        self.level3 = nn.ModuleList(EESP(c3, c3, r_lim=9) for _ in range(REPEATS[0]))
        self.level4_0 = DownSampler(c3, c4, r_lim=9)
        self.level4 = nn.ModuleList(EESP(c4, c4, r_lim=7) for _ in range(REPEATS[1]))

    def forward(self, x: Tensor) -> list[Tensor]:
        """Features at 1/2, 1/4, 1/8 and 1/16 of the input size."""
        pyramid = [x]  # the image pooled like the features (k3 s2 p1: ceil(h / 2) each time)
        for _ in range(4):
            pyramid.append(F.avg_pool2d(pyramid[-1], 3, stride=2, padding=1))
        l1 = self.level1(x)
        l2 = self.level2_0(l1, pyramid[2])
        l3 = self.level3_0(l2, pyramid[3])
        for block in self.level3:
            l3 = block(l3)
        l4 = self.level4_0(l3, pyramid[4])
        for block in self.level4:
            l4 = block(l4)
        return [l1, l2, l3, l4]


# --- decoder: layers named like EdgeNets' nn_layers/cnn_utils.py --------------------------


class SeqCBR(nn.Module):
    """Conv (no bias) + BatchNorm + PReLU as ``cbr.0/1/2``."""

    def __init__(self, cin: int, cout: int, k: int, groups: int = 1) -> None:
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(cin, cout, k, 1, (k - 1) // 2, bias=False, groups=groups),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.cbr(x)


class SeqBR(nn.Module):
    """BatchNorm + PReLU as ``br.0/1``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(c), nn.PReLU(c))

    def forward(self, x: Tensor) -> Tensor:
        return self.br(x)


class Shuffle(nn.Module):
    """Channel shuffle across ``groups`` groups."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PyramidPool(nn.Module):
    """Efficient pyramid pooling: project, depth-wise 3x3 at scales 2, 1.5, 1, 0.5, 0.1 of the
    feature size (at least 5), resize back, fuse."""

    scales = (2.0, 1.5, 1.0, 0.5, 0.1)

    def __init__(self, cin: int, proj: int, cout: int, last_br: bool = True) -> None:
        super().__init__()
        s = len(self.scales)
        self.projection_layer = SeqCBR(cin, proj, 1)
        self.stages = nn.ModuleList(
            nn.Conv2d(proj, proj, 3, 1, 1, bias=False, groups=proj) for _ in range(s)
        )
        self.merge_layer = nn.Sequential(
            SeqBR(proj * s),
            Shuffle(s),
            SeqCBR(proj * s, proj, 3, groups=proj),
            nn.Conv2d(proj, cout, 1, bias=not last_br),
        )
        self.br = SeqBR(cout) if last_br else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.projection_layer(x)
        h, w = x.shape[-2:]
        outs = []
        for scale, stage in zip(self.scales, self.stages, strict=True):
            size = (max(math.ceil(h * scale), 5), max(math.ceil(w * scale), 5))
            if scale < 1.0:
                y = stage(F.adaptive_avg_pool2d(x, size))
                y = F.interpolate(y, (h, w), mode="bilinear", align_corners=True)
            elif scale > 1.0:
                y = stage(F.interpolate(x, size, mode="bilinear", align_corners=True))
                y = F.adaptive_avg_pool2d(y, (h, w))
            else:
                y = stage(x)
            outs.append(y)
        y = self.merge_layer(torch.cat(outs, 1))
        return y if self.br is None else self.br(y)


class PWMerge(nn.Module):
    """Efficient point-wise merge of an encoder skip: a group 3x3 CBR gated by a global
    sigmoid channel weight."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.wt_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.Sigmoid()
        )
        self.expansion_layer = SeqCBR(cin, cout, 3, groups=math.gcd(cin, cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.expansion_layer(x) * self.wt_layer(x)


def _bn_prelu(c: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.PReLU(c))


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


# --- the model -----------------------------------------------------------------------------


class ESPNetv2Segmentation(SegmentationModel, UsesRegistry):
    """ESPNetv2 (s = 2.0) with the EdgeNets segmentation decoder; frozen, in eval mode."""

    num_classes: int = 0
    weights_file: str = ""
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    _mean: Tensor  # buffers
    _std: Tensor

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        k = self.num_classes
        dec = (64, 48, 32, k)  # 4, 3 and 2 times 16 decoder channels, then the classes
        proj = min(k // 2, 16)
        c1, c2, c3, c4 = WIDTHS
        self.base_net = EESPNetEncoder()
        self.bu_dec_l1 = PyramidPool(c4, proj, dec[0])
        self.bu_dec_l2 = PyramidPool(dec[0], proj, dec[1])
        self.bu_dec_l3 = PyramidPool(dec[1], proj, dec[2])
        self.bu_dec_l4 = PyramidPool(dec[2], proj, dec[3], last_br=False)
        self.merge_enc_dec_l2 = PWMerge(c3, dec[0])
        self.merge_enc_dec_l3 = PWMerge(c2, dec[1])
        self.merge_enc_dec_l4 = PWMerge(c1, dec[2])
        self.bu_br_l2 = _bn_prelu(dec[0])
        self.bu_br_l3 = _bn_prelu(dec[1])
        self.bu_br_l4 = _bn_prelu(dec[2])
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)
        self.weights = (
            Path(weights)
            if weights is not None  # else $LICBENCH_DATA/models/<weights_file>
            else model_weights(self.weights_file, self.name, self.registry.settings.data)
        )
        if not self.weights.is_file():
            raise LicbenchError(
                f"{self.name}: weights {self.weights} not found; pass an existing file"
            )
        state = torch.load(self.weights, map_location="cpu", weights_only=True)
        self.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ESPNetv2Segmentation:
        """Always stays in eval mode (frozen BatchNorm statistics)."""
        return super().train(False)

    def logits(self, x: Tensor) -> Tensor:
        """The raw network on a normalised input whose sides are multiples of 32."""
        l1, l2, l3, l4 = self.base_net(x)
        y = self.bu_br_l2(self.merge_enc_dec_l2(l3) + _up2(self.bu_dec_l1(l4)))
        y = self.bu_br_l3(self.merge_enc_dec_l3(l2) + _up2(self.bu_dec_l2(y)))
        y = self.bu_br_l4(self.merge_enc_dec_l4(l1) + _up2(self.bu_dec_l3(y)))
        y = self.bu_dec_l4(y)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)

    def forward(self, x: Tensor) -> Tensor:
        """RGB ``Bx3xHxW`` in [0, 1] -> logits ``BxKxHxW``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.name} expects Bx3xHxW RGB, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        x = (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)
        x = F.pad(x, (0, -w % PAD, 0, -h % PAD))  # zero = the mean colour after normalising
        return self.logits(x)[..., :h, :w]




class ESPNetv2Cityscapes(ESPNetv2Segmentation):
    """ESPNetv2 (s=2.0) Cityscapes segmentation, 19 train ids + void (19); 66.4 mIoU."""

    name = "espnetv2-cityscapes"
    num_classes = 20
    weights_file = "espnetv2_s_2.0_city_1024x512.pth"
    classes = {c: i for i, c in enumerate(CITYSCAPES)}


class ESPNetv2Pascal(ESPNetv2Segmentation):
    """ESPNetv2 (s=2.0) Pascal VOC segmentation, 21 classes (0 background)."""

    name = "espnetv2-pascal"
    num_classes = 21
    weights_file = "espnetv2_s_2.0_pascal_384x384.pth"
    classes = {c: i for i, c in enumerate(PASCAL)}
