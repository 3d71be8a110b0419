"""Architecture registry: networks built by name from a small config dict."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

STAGES: tuple[str, ...] = ("feature_extraction", "body", "upsampling", "reconstruction")

_ARCHS: dict[str, Callable[..., nn.Module]] = {}
# name -> detect(state, source): None when the keys are not this architecture's, else (config, our state dict)
Detector = Callable[[dict, Any], "tuple[dict, dict] | None"]
_DETECTORS: dict[str, Detector] = {}


def register(name: str, detect: Detector | None = None) -> Callable[[type], type]:
    """Class decorator: make the architecture buildable as ``name`` and its checkpoints recognised by ``detect``;
    a name already taken is refused."""

    def deco(cls: type) -> type:
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} is already registered (by {_ARCHS[name].__qualname__})")
        _ARCHS[name] = cls
        if detect is not None:
            _DETECTORS[name] = detect
        cls.arch_name = name
        return cls

    return deco


def build(arch: str, **config) -> nn.Module:
    """Build a registered architecture, e.g. ``build("rrdbnet", num_block=2, num_feat=8)``."""
    return _get(arch)(**config)


def _get(arch: str) -> Callable[..., nn.Module]:
    try:
        return _ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_ARCHS))}") from None


def scale_of(arch: str) -> int:
    """The upscaling factor of a registered architecture."""
    return _get(arch).scale


def detectors() -> list[tuple[str, Detector]]:
    return list(_DETECTORS.items())


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
