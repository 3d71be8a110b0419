"""SRGAN's generator (SRResNet), as in Ledig et al. 2017 and the paper's Table 1.

feature_extraction: 9x9 conv 3->F + PReLU
body:               N residual blocks (conv-BN-PReLU-conv-BN, identity skip), conv-BN, long skip
upsampling:         2 x [conv F->4F, PixelShuffle(2), PReLU]
reconstruction:     9x9 conv F->3
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import ModelError

from .detection import UNKNOWN, check_rgb, indices, shape
from .ops import Add
from .registry import StagedSR, register


class FeatureExtraction(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_feat, 9, padding=4)
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class ResidualBlock(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.act = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(num_feat)
        self.add = Add()

    def forward(self, x):
        return self.add(x, self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))


class Body(nn.Module):
    def __init__(self, num_feat: int, num_block: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualBlock(num_feat) for _ in range(num_block)))
        self.conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(num_feat)
        self.add = Add()

    def forward(self, x):
        return self.add(x, self.bn(self.conv(self.blocks(x))))


class UpsampleBlock(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.shuffle(self.conv(x)))


class Reconstruction(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feat, 3, 9, padding=4)

    def forward(self, x):
        return self.conv(x)


@register("srresnet", detect=lambda state, source: detect(state, source))  # detect: below
class SRResNet(StagedSR):
    def __init__(self, num_feat: int = 64, num_block: int = 16) -> None:
        super().__init__(num_feat=num_feat, num_block=num_block)
        self.feature_extraction = FeatureExtraction(num_feat)
        self.body = Body(num_feat, num_block)
        self.upsampling = nn.Sequential(UpsampleBlock(num_feat), UpsampleBlock(num_feat))
        self.reconstruction = Reconstruction(num_feat)


# -- checkpoint detection ------------------------------------------------------------------------------

def _config(state: dict[str, torch.Tensor], source) -> dict:
    check_rgb(state, shape(state, "feature_extraction.conv.weight", source), "reconstruction.conv.weight", source)
    num_block = indices(state, r"body\.blocks\.(\d+)\.conv1\.weight")
    if num_block < 1:
        raise ModelError(f"{UNKNOWN} (residual blocks are missing or not numbered 0..N-1)", source)
    if "upsampling.1.conv.weight" not in state:
        raise ModelError(f"{UNKNOWN} (an SRResNet with fewer than two x2 upsampling blocks is not x4)", source)
    return {"num_feat": shape(state, "feature_extraction.conv.weight", source)[0], "num_block": num_block}


def detect(state: dict[str, torch.Tensor], source=None) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """This project's SRResNet layout."""
    if "feature_extraction.conv.weight" in state and "body.blocks.0.conv1.weight" in state:
        return _config(state, source), state
    return None
