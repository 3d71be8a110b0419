"""ESRGAN's generator (RRDBNet), as in Wang et al. 2018 and Real-ESRGAN's x4plus model.

feature_extraction: 3x3 conv 3->F
body:               N RRDB blocks (3 dense blocks of 5 convs, growth G, LeakyReLU 0.2,
                    residual scale 0.2), 3x3 conv, long skip
upsampling:         2 x [nearest x2, 3x3 conv F->F, LeakyReLU 0.2]
reconstruction:     3x3 conv F->F + LeakyReLU 0.2, 3x3 conv F->3
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import ModelError

from .detection import UNKNOWN, check_rgb, indices, rename, shape
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


@register("rrdbnet", detect=lambda state, source: detect(state, source))  # detect: below
class RRDBNet(StagedSR):
    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow: int = 32) -> None:
        super().__init__(num_feat=num_feat, num_block=num_block, num_grow=num_grow)
        self.feature_extraction = FeatureExtraction(num_feat)
        self.body = Body(num_feat, num_block, num_grow)
        self.upsampling = nn.Sequential(UpsampleBlock(num_feat), UpsampleBlock(num_feat))
        self.reconstruction = Reconstruction(num_feat)


# -- checkpoint detection ------------------------------------------------------------------------------

# Foreign RRDBNet layouts -> our keys. Each rule renames a key prefix (regex on the whole key).
_BASICSR = [
    (r"conv_first\.", "feature_extraction.conv."),
    (r"body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"body.blocks.\1.rdb\2.conv\3."),
    (r"conv_body\.", "body.conv."),
    (r"conv_up1\.", "upsampling.0.conv."),
    (r"conv_up2\.", "upsampling.1.conv."),
    (r"conv_hr\.", "reconstruction.conv_hr."),
    (r"conv_last\.", "reconstruction.conv_last."),
]
# xinntao/ESRGAN RRDBNet_arch.py; some exports keep the old arch's ".0" after each dense conv.
_ORIGINAL = [
    (r"conv_first\.", "feature_extraction.conv."),
    (r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(?:0\.)?", r"body.blocks.\1.rdb\2.conv\3."),
    (r"trunk_conv\.", "body.conv."),
    (r"upconv1\.", "upsampling.0.conv."),
    (r"upconv2\.", "upsampling.1.conv."),
    (r"HRconv\.", "reconstruction.conv_hr."),
    (r"conv_last\.", "reconstruction.conv_last."),
]


def _old_arch_rules(num_block: int) -> list[tuple[str, str]]:
    """The first ESRGAN code (one flat nn.Sequential, ``model.N``), for x4: upsample, conv, act twice."""
    return [
        (r"model\.0\.", "feature_extraction.conv."),
        (r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.blocks.\1.rdb\2.conv\3."),
        (rf"model\.1\.sub\.{num_block}\.", "body.conv."),
        (r"model\.3\.", "upsampling.0.conv."),
        (r"model\.6\.", "upsampling.1.conv."),
        (r"model\.8\.", "reconstruction.conv_hr."),
        (r"model\.10\.", "reconstruction.conv_last."),
    ]


def _config(state: dict[str, torch.Tensor], source) -> dict:
    first = shape(state, "feature_extraction.conv.weight", source)
    if len(first) != 4:
        raise ModelError(f"{UNKNOWN} (first conv has shape {first})", source)
    if first[1] in (12, 48):
        scale = {12: 2, 48: 1}[first[1]]
        raise ModelError(f"{UNKNOWN} (this is an x{scale} RRDBNet: its first conv takes {first[1]} "
                         "pixel-unshuffled channels)", source)
    if "upsampling.1.conv.weight" not in state:
        raise ModelError(f"{UNKNOWN} (an RRDBNet with fewer than two x2 upsampling convs is not x4)", source)
    check_rgb(state, first, "reconstruction.conv_last.weight", source)
    num_block = indices(state, r"body\.blocks\.(\d+)\.rdb1\.conv1\.weight")
    if num_block < 1:
        raise ModelError(f"{UNKNOWN} (RRDB blocks are missing or not numbered 0..N-1)", source)
    return {"num_feat": first[0], "num_block": num_block,
            "num_grow": shape(state, "body.blocks.0.rdb1.conv1.weight", source)[0]}


def detect(state: dict[str, torch.Tensor], source=None) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """This project's RRDBNet layout, BasicSR's and the original ESRGAN repository's (new and old arch)."""
    if "feature_extraction.conv.weight" in state and "body.blocks.0.rdb1.conv1.weight" in state:
        return _config(state, source), state
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        renamed = rename(state, _BASICSR)
    elif "conv_first.weight" in state and "trunk_conv.weight" in state:
        renamed = rename(state, _ORIGINAL)
    elif "model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state:
        num_block = indices(state, r"model\.1\.sub\.(\d+)\.RDB1\.conv1\.0\.weight")
        if "model.10.weight" not in state:
            raise ModelError(f"{UNKNOWN} (this old-style ESRGAN is not x4)", source)
        renamed = rename(state, _old_arch_rules(num_block))
    else:
        return None
    return _config(renamed, source), renamed
