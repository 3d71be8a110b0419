"""Shared fixtures. Tests run offscreen and use tiny generators unless size matters."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

from engine import archs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_rrdb() -> torch.nn.Module:
    torch.manual_seed(0)
    return archs.build("rrdbnet", num_feat=8, num_block=2, num_grow=4).eval()


@pytest.fixture
def tiny_srresnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return archs.build("srresnet", num_feat=8, num_block=2).eval()


@pytest.fixture(scope="session")
def photo_lr():
    """A real photo crop (a CC0 sample), downscaled x4 with bicubic like the SR protocol: 40x60."""
    import numpy as np
    from PIL import Image

    img = Image.open(REPO / "resources" / "samples" / "coffee.png").convert("RGB")
    lr = img.resize((img.width // 4, img.height // 4), Image.Resampling.BICUBIC)
    return np.asarray(lr, dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def hr_dir(tmp_path_factory) -> Path:
    """Three 116x112 HR crops of the bundled samples: a tiny evaluation / training folder."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("hr")
    for name, (x, y) in (("coffee", (60, 20)), ("chelsea", (70, 30)), ("astronaut", (40, 10))):
        with Image.open(REPO / "resources" / "samples" / f"{name}.png") as im:
            im.convert("RGB").crop((x, y, x + 116, y + 112)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_rrdb_file(tmp_path_factory) -> Path:
    """A tiny RRDBNet saved as a weights file with its model card."""
    from engine.weights import save_model

    torch.manual_seed(0)
    net = archs.build("rrdbnet", num_feat=8, num_block=2, num_grow=4).eval()
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(net, path, {"name": "tiny", "display_name": "tiny RRDBNet"})


X2_ARCH = "test_tiny_x2"


def _detect_x2(state, source=None):
    if "feature_extraction.0.weight" in state and "upsampling.0.weight" in state:
        return {"num_feat": state["feature_extraction.0.weight"].shape[0]}, state
    return None


@pytest.fixture
def x2_arch():
    """A tiny x2 generator registered for the test only (conv, PReLU, one PixelShuffle(2)): what adding an x2
    architecture takes, and nothing else."""
    from torch import nn

    from engine.archs import StagedSR, register, registry

    @register(X2_ARCH, detect=_detect_x2)
    class TinyX2(StagedSR):
        scale = 2

        def __init__(self, num_feat: int = 8) -> None:
            super().__init__(num_feat=num_feat)
            self.feature_extraction = nn.Sequential(nn.Conv2d(3, num_feat, 3, padding=1), nn.PReLU())
            self.body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU())
            self.upsampling = nn.Sequential(nn.Conv2d(num_feat, 4 * num_feat, 3, padding=1), nn.PixelShuffle(2),
                                            nn.PReLU())
            self.reconstruction = nn.Conv2d(num_feat, 3, 3, padding=1)

    yield TinyX2
    registry._ARCHS.pop(X2_ARCH, None)
    registry._DETECTORS.pop(X2_ARCH, None)


@pytest.fixture
def x2_model(x2_arch):
    from engine.archs import registry

    torch.manual_seed(0)
    return registry.build(X2_ARCH, num_feat=8).eval()
