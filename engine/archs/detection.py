"""What the architectures' checkpoint detectors share: key renaming, block counting, shape checks.

A detector (``detect`` beside each architecture, registered with it) takes a state dict and returns ``None``
when the keys are not its architecture's, else ``(config, state dict in our keys)``; a checkpoint that is its
architecture but unusable (not x4, not RGB) is a one-line :class:`ModelError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from engine.errors import ModelError

UNKNOWN = "unknown architecture: expected an x4 ESRGAN (RRDBNet) or SRGAN (SRResNet) generator"


def rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    out = {}
    for key, value in state.items():
        for pattern, repl in compiled:
            if match := pattern.match(key):
                key = match.expand(repl) + key[match.end():]
                break
        out[key] = value
    return out


def indices(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    """Count blocks ``0..N-1`` whose keys match ``pattern`` (one group: the index); -1 if not contiguous."""
    found = {int(m.group(1)) for key in state if (m := re.fullmatch(pattern, key))}
    return len(found) if found == set(range(len(found))) else -1


def shape(state: Mapping[str, torch.Tensor], key: str, source) -> tuple[int, ...]:
    tensor = state.get(key)
    if tensor is None:
        raise ModelError(f"{UNKNOWN} (no {key})", source)
    return tuple(tensor.shape)


def check_rgb(state: dict[str, torch.Tensor], first: tuple[int, ...], last_key: str, source) -> None:
    last = shape(state, last_key, source)
    if first[1] != 3 or last[0] != 3:
        raise ModelError(f"{UNKNOWN} (it maps {first[1]} channels to {last[0]}; only RGB to RGB is supported)",
                         source)
