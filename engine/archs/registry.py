"""Architecture registry: networks built by name from a small config dict."""

from __future__ import annotations

from typing import Callable

from torch import nn

STAGES: tuple[str, ...] = ("feature_extraction", "body", "upsampling", "reconstruction")

_ARCHS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        _ARCHS[name] = cls
        cls.arch_name = name
        return cls

    return deco


def build(arch: str, **config) -> nn.Module:
    """Build a registered architecture, e.g. ``build("rrdbnet", num_block=2, num_feat=8)``."""
    try:
        cls = _ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_ARCHS))}") from None
    return cls(**config)


def names() -> list[str]:
    return sorted(_ARCHS)


class StagedSR(nn.Module):
    """Base class: a x4 generator made of the four named stages, run in order.

    Subclasses set ``self.feature_extraction``, ``self.body``, ``self.upsampling`` and
    ``self.reconstruction``; ``config`` holds the keyword arguments that rebuild the network.
    """

    arch_name = ""
    scale = 4

    def __init__(self, **config) -> None:
        super().__init__()
        self.config = dict(config)

    def stages(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in STAGES}

    def forward(self, x):
        for name in STAGES:
            x = getattr(self, name)(x)
        return x
