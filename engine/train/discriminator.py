"""SRGAN's discriminator (Ledig et al. 2017, Fig. 4): eight 3x3 convs, BN, LeakyReLU, then a small dense head.

The paper flattens a 6x6x512 map of a 96x96 patch; global average pooling instead lets it take any patch
size. ``forward`` returns every block's output too, for the feature-matching loss that stands in for the
VGG content loss (no ImageNet VGG weights offline).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int, bn: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        f = num_feat
        widths = [(3, f, 1), (f, f, 2), (f, 2 * f, 1), (2 * f, 2 * f, 2),
                  (2 * f, 4 * f, 1), (4 * f, 4 * f, 2), (4 * f, 8 * f, 1), (8 * f, 8 * f, 2)]
        self.blocks = nn.ModuleList(_block(i, o, s, bn=k > 0) for k, (i, o, s) in enumerate(widths))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * f, 16 * f),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(16 * f, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logit per image, the output of every conv block).

        Both come out of ``forward`` so that one call under DistributedDataParallel serves both losses.
        """
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return self.head(x).squeeze(1), feats
