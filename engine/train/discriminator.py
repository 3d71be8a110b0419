"""SRGAN's discriminator (Ledig et al. 2017, Fig. 4): eight 3x3 convs, BN, LeakyReLU, then a small dense head.

The paper flattens a 6x6x512 map of a 96x96 patch; global average pooling instead lets it take any patch
size. ``forward`` returns every block's output too, for the feature-matching loss that stands in for the
VGG content loss (no ImageNet VGG weights offline).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
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


def adversarial_step(disc: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                     autocast: contextlib.AbstractContextManager | None = None,
                     ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One discriminator step on ``real`` vs ``fake``, then the generator's terms.

    Returns (adversarial BCE of ``fake`` labelled real, feature matching to ``real`` over the blocks, the
    discriminator's loss). Real and fake go through the discriminator in one call: one forward per backward
    under DDP.
    """
    autocast = autocast or contextlib.nullcontext()
    n = fake.shape[0]
    labels = torch.cat([torch.ones(n), torch.zeros(n)]).to(fake.device)
    with autocast:
        logits, _ = disc(torch.cat([real, fake.detach()]))
    loss_d = F.binary_cross_entropy_with_logits(logits.float(), labels)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    with autocast:
        logits, feats = disc(torch.cat([real, fake]))
    adversarial = F.binary_cross_entropy_with_logits(logits[n:].float(), torch.ones(n, device=fake.device))
    matching = sum(F.l1_loss(f[n:].float(), f[:n].detach().float()) for f in feats) / len(feats)
    return adversarial, matching, loss_d.item()
