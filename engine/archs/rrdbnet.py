"""ESRGAN's generator (RRDBNet), as in Wang et al. 2018 and Real-ESRGAN's x4plus model.

feature_extraction: 3x3 conv 3->F
body:               N RRDB blocks (3 dense blocks of 5 convs, growth G, LeakyReLU 0.2,
                    residual scale 0.2), 3x3 conv, long skip
upsampling:         2 x [nearest x2, 3x3 conv F->F, LeakyReLU 0.2]
reconstruction:     3x3 conv F->F + LeakyReLU 0.2, 3x3 conv F->3
"""

from __future__ import annotations

from torch import nn

from .ops import Add, Cat, Upsample2x
from .registry import StagedSR, register


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=False)


class FeatureExtraction(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_feat, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class DenseBlock(nn.Module):
    """Five convs, each fed the concatenation of the input and every earlier output."""

    def __init__(self, num_feat: int, num_grow: int) -> None:
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow, num_grow, 3, padding=1))
            setattr(self, f"act{i}", _lrelu())
            setattr(self, f"cat{i}", Cat())
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow, num_feat, 3, padding=1)
        self.add = Add(0.2)

    def forward(self, x):
        x1 = self.act1(self.conv1(x))
        x2 = self.act2(self.conv2(self.cat1(x, x1)))
        x3 = self.act3(self.conv3(self.cat2(x, x1, x2)))
        x4 = self.act4(self.conv4(self.cat3(x, x1, x2, x3)))
        x5 = self.conv5(self.cat4(x, x1, x2, x3, x4))
        return self.add(x, x5)


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow: int) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(num_feat, num_grow)
        self.rdb2 = DenseBlock(num_feat, num_grow)
        self.rdb3 = DenseBlock(num_feat, num_grow)
        self.add = Add(0.2)

    def forward(self, x):
        return self.add(x, self.rdb3(self.rdb2(self.rdb1(x))))


class Body(nn.Module):
    def __init__(self, num_feat: int, num_block: int, num_grow: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(RRDB(num_feat, num_grow) for _ in range(num_block)))
        self.conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.add = Add()

    def forward(self, x):
        return self.add(x, self.conv(self.blocks(x)))


class UpsampleBlock(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.up = Upsample2x()
        self.conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.act = _lrelu()

    def forward(self, x):
        return self.act(self.conv(self.up(x)))


class Reconstruction(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.act = _lrelu()
        self.conv_last = nn.Conv2d(num_feat, 3, 3, padding=1)

    def forward(self, x):
        return self.conv_last(self.act(self.conv_hr(x)))


@register("rrdbnet")
class RRDBNet(StagedSR):
    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow: int = 32) -> None:
        super().__init__(num_feat=num_feat, num_block=num_block, num_grow=num_grow)
        self.feature_extraction = FeatureExtraction(num_feat)
        self.body = Body(num_feat, num_block, num_grow)
        self.upsampling = nn.Sequential(UpsampleBlock(num_feat), UpsampleBlock(num_feat))
        self.reconstruction = Reconstruction(num_feat)
