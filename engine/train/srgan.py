"""Training the SRGAN generator: SRResNet pre-training with an L1 pixel loss, then adversarial fine-tuning.

Deviation from Ledig et al.: their content loss compares VGG-19 features, and ImageNet VGG weights are not
available offline. The adversarial phase uses instead L1 to the HR patch plus a feature-matching loss on
the discriminator's own block outputs (Salimans et al. 2016), next to the usual adversarial term.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine import files
from engine.archs import build
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn
from engine.weights import load_model, resolve, save_model

from . import loop
from .common import bf16_autocast, cosine, data_folder, work_folder
from .data import PatchSampler
from .discriminator import Discriminator, adversarial_step
from .distributed import World, setup, unwrap

PHASES = ("pretrain", "gan")
DEVIATION = {
    "pretrain": "L1 pixel loss (as in ESRGAN's pre-training) instead of SRResNet's MSE.",
    "gan": ("No ImageNet VGG weights offline: the VGG content loss of SRGAN is replaced by L1 to HR plus "
            "feature matching on the discriminator's block outputs."),
}
DEFAULTS = {
    "pretrain": {"lr": 4e-4, "pixel_weight": 1.0, "fm_weight": 0.0, "adv_weight": 0.0},
    "gan": {"lr": 1e-4, "pixel_weight": 1.0, "fm_weight": 1.0, "adv_weight": 5e-3, "d_feat": 64},
}


class PretrainJob:
    def __init__(self, generator: torch.nn.Module, config: dict[str, Any], world: World) -> None:
        self.config = config
        self.generator = world.wrap(generator.to(world.device).train())
        self.opt = torch.optim.Adam(self.generator.parameters(), config["lr"], betas=(0.9, 0.99))
        self.sched = cosine(self.opt, config["steps"])
        self.autocast = bf16_autocast(world.device, config["bf16"])

    def stateful(self):
        return {"generator": unwrap(self.generator), "opt": self.opt, "sched": self.sched}

    def step(self, step: int, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        with self.autocast:
            out = self.generator(lr)
        loss = F.l1_loss(out.float(), hr)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return {"l1": loss.item()}


class GanJob:
    """One discriminator step, then one generator step, per batch."""

    def __init__(self, generator: torch.nn.Module, config: dict[str, Any], world: World) -> None:
        self.config = config
        self.generator = world.wrap(generator.to(world.device).train())
        self.disc = world.wrap(Discriminator(int(config["d_feat"])).to(world.device).train())
        self.opt_g = torch.optim.Adam(self.generator.parameters(), config["lr"], betas=(0.9, 0.99))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), config["lr"], betas=(0.9, 0.99))
        self.autocast = bf16_autocast(world.device, config["bf16"])

    def stateful(self):
        return {"generator": unwrap(self.generator), "discriminator": unwrap(self.disc),
                "opt_g": self.opt_g, "opt_d": self.opt_d}

    def step(self, step: int, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        c = self.config
        with self.autocast:
            fake = self.generator(lr).float()
        adversarial, matching, loss_d = adversarial_step(self.disc, self.opt_d, hr, fake, self.autocast)
        pixel = F.l1_loss(fake, hr)
        loss_g = c["pixel_weight"] * pixel + c["fm_weight"] * matching + c["adv_weight"] * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"g": loss_g.item(), "l1": pixel.item(), "fm": matching.item(), "adv": adversarial.item(),
                "d": loss_d}


def train_srgan(
    out: str | Path,
    *,
    data: str | Path | None = None,
    phase: str = "pretrain",
    steps: int,
    init: str | Path | None = None,
    batch: int = 16,
    patch: int = 24,
    seed: int = 0,
    num_feat: int = 64,
    num_block: int = 16,
    checkpoint_every: int = 100,
    workdir: str | Path | None = None,
    restart: bool = False,
    device: str | None = None,
    bf16: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    **overrides: float,
) -> Path:
    """Train an SRGAN generator (SRResNet) and write it with its model card to ``out``; returns ``out``.

    The output never replaces ``init``; if another run wrote ``out`` meanwhile, the weights go beside it
    (the path returned). ``phase="pretrain"`` trains from scratch (or from ``init``) with L1; ``phase="gan"`` fine-tunes ``init``
    adversarially. ``overrides``: lr, pixel_weight, fm_weight, adv_weight, d_feat (discriminator width).
    ``bf16``: forward passes in bfloat16 autocast, on hardware with native bf16 (2x faster on an AVX512-BF16 CPU).
    """
    if phase not in PHASES:
        raise MPSRError(f"unknown training phase {phase!r}; use {' or '.join(PHASES)}")
    if phase == "gan" and init is None:
        raise MPSRError("adversarial fine-tuning starts from a pre-trained SRResNet: pass --init FILE")
    unknown = set(overrides) - set(DEFAULTS[phase])
    if unknown:
        raise MPSRError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    out, folder = Path(out), data_folder(data)
    if out.suffix.lower() != ".safetensors":
        raise MPSRError("the output must be a .safetensors file", out)
    sources = [] if init is None else [resolve(init), resolve(init).with_suffix(".json")]
    with files.run_files(inputs=sources, outputs=[out, out.with_suffix(".json")]):
        files.check_writable(out)
        world = setup(device)
        torch.manual_seed(seed)
        if init is not None:
            generator, info = load_model(init)
            if info.arch != "srresnet":
                raise MPSRError(f"SRGAN training needs an SRResNet generator, not {info.arch}", init)
            init_sha = (info.card or {}).get("sha256")
        else:
            generator, init_sha = build("srresnet", num_feat=num_feat, num_block=num_block), None
        config = {"job": f"srgan-{phase}", "steps": steps, "batch": batch, "patch": patch, "seed": seed,
                  "arch": "srresnet", "model_config": dict(generator.config), "init_sha256": init_sha,
                  "data": str(folder.resolve()), "world_size": world.size, "bf16": bf16, **DEFAULTS[phase], **overrides}
        job = (PretrainJob if phase == "pretrain" else GanJob)(generator, config, world)
        sampler = PatchSampler.from_folder(folder, patch, seed, scale=generator.scale, progress=progress,
                                             cancel=cancel)
        spec = loop.LoopSpec(steps=steps, batch=batch, checkpoint_every=checkpoint_every)
        workdir = work_folder(out, workdir, restart)
        losses = loop.run(job, sampler, spec, workdir, world=world, progress=progress, cancel=cancel)
        if world.is_main:
            card = {
                "name": out.stem,
                "display_name": "SRGAN" if phase == "gan" else "SRResNet",
                "training": {**config, "images": len(sampler.images), "final_losses": losses,
                             "log": str(workdir / loop.LOG)},
                "losses": ("L1 to HR" if phase == "pretrain" else
                           f"{config['pixel_weight']} x L1 + {config['fm_weight']} x discriminator feature matching"
                           f" + {config['adv_weight']} x adversarial (BCE)"),
                "deviation_from_paper": DEVIATION[phase],
                "license": "BSD-3-Clause (trained by MPSR)",
            }
            out = save_model(unwrap(job.generator).cpu(), out, card)
    return out
