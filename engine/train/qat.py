"""Quantization-aware training: a fake-quant student distilled from its own fp32 generator.

The student is :func:`engine.quant.prepare_qat`'s copy of the generator (BN folded, fake quant where the
plan quantizes); the teacher is the fp32 generator. The loss is L1 to the teacher's output, so any photo
folder will do (no ground truth needed); ``hr_weight`` adds L1 to the HR patch, ``texture_weight`` L1 between
the student's and the teacher's local gradient magnitudes.

``adv_weight`` / ``fm_weight`` add adversarial distillation: the paper's QAT keeps the GAN's adversarial loss,
which needs the generator's discriminator, and none ships for ESRGAN. So a fresh SRGAN-style discriminator
learns, during QAT, to tell the student's output from ``adv_real``: the teacher's (default), so that the
adversarial term and feature matching on its blocks push the student towards the teacher's texture statistics
rather than the smoother average an L1 loss settles on; or the HR patch ("hr"), the GAN's own objective, which
a discriminator learns faster than the small student-teacher difference.

Activation ranges (``ranges``): "fixed" (default) calibrates them exactly as PTQ does (on ``calib``, by
default the bundled samples, like the app's PTQ) and keeps them, so training starts from the PTQ generator; "moving" starts them from a batch of
training patches and lets them follow the batches. Either way every range, weights' included, is frozen for
the last part of the run (``freeze_at``) so the weights settle on fixed grids before conversion.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine import files
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn
from engine.quant import (
    CalibrationSpec, QuantizedGenerator, convert_qat, freeze_observers, parse_plan, prepare_qat, save_artifact,
)
from engine.quant.artifact import SUFFIX
from engine.weights import load_model

from . import loop
from .common import cosine, data_folder, work_folder
from .data import PatchSampler
from .discriminator import Discriminator, adversarial_step
from .distributed import World, pick_device, setup, unwrap


class QATJob:
    def __init__(self, teacher: nn.Module, student: QuantizedGenerator, config: dict[str, Any], world: World) -> None:
        self.config = config
        self.teacher = teacher.to(world.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.student = world.wrap(student.to(world.device))
        self.opt = torch.optim.Adam(self.student.parameters(), config["lr"], betas=(0.9, 0.99))
        self.sched = cosine(self.opt, config["steps"])
        self.disc = None
        if config.get("adv_weight") or config.get("fm_weight"):
            self.disc = world.wrap(Discriminator(DISC["width"]).to(world.device).train())
            self.opt_d = torch.optim.Adam(self.disc.parameters(), DISC["lr"], betas=(0.9, 0.99))

    def stateful(self):
        state = {"student": unwrap(self.student), "opt": self.opt, "sched": self.sched}
        if self.disc is not None:
            state.update(discriminator=unwrap(self.disc), opt_d=self.opt_d)
        return state

    def step(self, step: int, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            target = self.teacher(lr)
        out = self.student(lr)
        distill = F.l1_loss(out, target)
        loss = distill + self.config["hr_weight"] * F.l1_loss(out, hr) if self.config["hr_weight"] else distill
        terms = {"l1_teacher": distill.item()}
        if self.config.get("texture_weight"):
            texture = F.l1_loss(_gradient_magnitude(out), _gradient_magnitude(target))
            loss = loss + self.config["texture_weight"] * texture
            terms["texture"] = texture.item()
        if self.disc is not None:
            real = hr if self.config.get("adv_real") == "hr" else target
            adversarial, matching, terms["d"] = adversarial_step(self.disc, self.opt_d, real, out)
            loss = loss + self.config["adv_weight"] * adversarial + self.config["fm_weight"] * matching
            terms.update(adv=adversarial.item(), fm=matching.item())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return {"loss": loss.item(), **terms}


def _gradient_magnitude(img: torch.Tensor) -> torch.Tensor:
    """Local contrast: |horizontal| + |vertical| finite differences. Matching its size, not its sign, keeps
    the teacher's amount of fine texture where a pixel loss alone settles on a smoother average."""
    dx = (img[..., :, 1:] - img[..., :, :-1]).abs()[..., :-1, :]
    dy = (img[..., 1:, :] - img[..., :-1, :]).abs()[..., :, :-1]
    return dx + dy


def _calibrate(student: nn.Module, lr: torch.Tensor) -> None:
    """Initial activation ranges from a batch of training patches (the observers then track the batches)."""
    with torch.no_grad():
        student(lr)


RANGES = ("fixed", "moving")
ADV_REALS = ("teacher", "hr")
# Per-architecture defaults, chosen on photos outside Set5/Set14 (docs/training.md): ESRGAN's GAN texture
# drifts at Adam 5e-5 (no fidelity gained, output smoother). The texture term is off by default: on Set5/Set14 it
# lowered mixed-QAT NIQE but cost PSNR-Y, and it did not help int8 (docs/training.md has both runs).
DEFAULTS = {"srresnet": {"lr": 5e-5, "texture_weight": 0.0}, "rrdbnet": {"lr": 1e-5, "texture_weight": 0.0}}

# The distillation discriminator: half SRGAN's width (it only has to see the student-teacher difference) and
# SRGAN fine-tuning's rate, since it starts from scratch while the student starts from the PTQ generator.
DISC = {"width": 32, "lr": 1e-4}

# A batch index no run reaches: the calibration patches differ from every training batch.
_CALIBRATION_STEP = 2**31 - 1


def train_qat(
    model: nn.Module,
    plan,
    data: str | Path | None = None,
    *,
    steps: int,
    batch: int = 8,
    patch: int = 24,
    lr: float | None = None,
    hr_weight: float = 0.0,
    texture_weight: float | None = None,
    adv_weight: float = 0.0,
    fm_weight: float = 0.0,
    adv_real: str = "teacher",
    freeze_at: float = 0.6,
    ranges: str = "fixed",
    calib: str | Path | None = None,
    seed: int = 0,
    checkpoint_every: int = 50,
    workdir: str | Path | None = None,
    device: str | None = None,
    world: World | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> QuantizedGenerator:
    """QAT of ``model`` (fp32, not modified) under ``plan`` for ``steps`` steps; returns the converted generator.

    ``workdir``: where checkpoints go (resumes from one found there); None keeps no checkpoint (short runs,
    sweeps). ``lr``, ``texture_weight``: None = :data:`DEFAULTS` for the architecture. ``freeze_at``: fraction of the steps
    after which all ranges stop moving. ``ranges``: "fixed" or "moving" activation ranges (module docstring);
    ``calib``: PTQ calibration images for "fixed". ``adv_weight``, ``fm_weight``: adversarial distillation
    (module docstring), 0 = off; ``adv_real``: what the discriminator takes as real, "teacher" or "hr".
    """
    plan = parse_plan(plan)
    if plan.is_float:
        raise MPSRError(f"plan {plan} quantizes nothing: there is nothing to retrain")
    if not 0 <= freeze_at <= 1:
        raise MPSRError("freeze_at must be between 0 and 1")
    negative = [name for name, w in (("hr_weight", hr_weight), ("texture_weight", texture_weight),
                                     ("adv_weight", adv_weight), ("fm_weight", fm_weight)) if w is not None and w < 0]
    if negative:
        raise MPSRError(f"loss weights cannot be negative: {', '.join(negative)}")
    if adv_real not in ADV_REALS:
        raise MPSRError(f"unknown adv_real {adv_real!r}: choose {' or '.join(ADV_REALS)}")
    if ranges not in RANGES:
        raise MPSRError(f"unknown ranges {ranges!r}: choose {' or '.join(RANGES)}")
    folder = data_folder(data)
    world = world or setup(device)
    torch.manual_seed(seed)
    teacher = copy.deepcopy(model).float().eval()
    resuming = workdir is not None and (Path(workdir) / loop.CHECKPOINT).is_file()
    spec = CalibrationSpec(source=None if calib is None else str(calib))
    fixed = spec if ranges == "fixed" and not resuming else None
    student = prepare_qat(teacher, plan, fixed_ranges=fixed, progress=progress, cancel=cancel)
    defaults = DEFAULTS.get(student.arch, DEFAULTS["srresnet"])
    lr = defaults["lr"] if lr is None else lr
    texture_weight = defaults["texture_weight"] if texture_weight is None else texture_weight
    config = {"job": "qat", "plan": str(plan), "steps": steps, "batch": batch, "patch": patch, "lr": lr,
              "hr_weight": hr_weight, "texture_weight": texture_weight, "adv_weight": adv_weight,
              "fm_weight": fm_weight, "adv_real": adv_real,
              "discriminator": DISC if adv_weight or fm_weight else None,
              "freeze_at": freeze_at, "ranges": ranges,
              "calib": spec.to_json() if ranges == "fixed" else None, "seed": seed, "arch": student.arch,
              "model_config": dict(student.config), "data": str(folder.resolve()), "world_size": world.size}
    sampler = PatchSampler.from_folder(folder, patch, seed, scale=student.scale, progress=progress, cancel=cancel)
    if ranges == "moving" and not resuming:
        _calibrate(student.to(world.device), sampler.batch(_CALIBRATION_STEP, 4 * batch)[0].to(world.device))
    job = QATJob(teacher, student, config, world)
    freeze_step = int(round(freeze_at * steps))

    def on_step(step: int) -> None:
        if step >= freeze_step:
            freeze_observers(unwrap(job.student))

    spec = loop.LoopSpec(steps=steps, batch=batch, checkpoint_every=checkpoint_every)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="mpsr-qat-") as tmp:
            losses = loop.run(job, sampler, spec, tmp, world=world, on_step=on_step, progress=progress, cancel=cancel)
    else:
        losses = loop.run(job, sampler, spec, workdir, world=world, on_step=on_step, progress=progress, cancel=cancel)
    qmodel = convert_qat(unwrap(job.student).cpu())
    qmodel.training_summary = {**config, "final_losses": losses}
    return qmodel


def run_qat(
    model: str | Path,
    plan,
    data: str | Path | None,
    steps: int,
    out: str | Path,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    *,
    restart: bool = False,
    workdir: str | Path | None = None,
    **options: Any,
) -> Path:
    """QAT a generator ("esrgan", "srgan" or a weights file) and save the quantized artifact; returns its path.

    ``out``: the artifact file, or a folder to put ``<model>-<plan>-qat<steps>.safetensors`` in. A killed or
    cancelled run resumes from the checkpoint in ``<artifact>.work`` when called again with the same arguments.
    """
    fp32, info = load_model(model)
    plan = parse_plan(plan)
    out = Path(out)
    if out.suffix != SUFFIX:
        label = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in plan.name)
        out = out / f"{info.name}-{label}-qat{steps}{SUFFIX}"
    sources = [info.path, info.path.with_suffix(".json")] if info.path else []
    with files.run_files(inputs=sources, outputs=[out]):
        files.check_writable(out)
        return _train_and_save(fp32, info, plan, data, steps, out, progress, cancel, restart, workdir, options)


def _train_and_save(fp32: nn.Module, info, plan, data, steps: int, out: Path, progress, cancel, restart: bool,
                    workdir, options: dict[str, Any]) -> Path:
    world = setup(options.pop("device", None))
    folder = work_folder(out, workdir, restart)
    qmodel = train_qat(fp32, plan, data, steps=steps, workdir=folder, world=world, progress=progress,
                       cancel=cancel, **options)
    if world.is_main:
        summary = qmodel.training_summary
        card = {
            "name": out.stem,
            "display_name": f"{info.display_name} ({plan.name}, QAT)",
            "source_model": info.name,
            "source_sha256": (info.card or {}).get("sha256"),
            "method": "qat",
            "training": {**summary, "log": str(folder / loop.LOG)},
            "losses": "L1 to the fp32 teacher's output" + (
                f" + {summary['hr_weight']} x L1 to HR" if summary["hr_weight"] else "") + (
                f" + {summary['texture_weight']} x L1 between local gradient magnitudes (student vs teacher)"
                if summary["texture_weight"] else "") + (
                f" + {summary['adv_weight']} x adversarial (BCE) + {summary['fm_weight']} x feature matching, "
                "against a discriminator trained to tell the student's output from "
                + ("HR" if summary["adv_real"] == "hr" else "the teacher's")
                if summary["adv_weight"] or summary["fm_weight"] else ""),
        }
        out = save_artifact(qmodel, out, card)
    return out


def measure_step_seconds(model: str | Path | nn.Module, plan, *, batch: int = 8, patch: int = 24,
                         device: str | None = None, repeats: int = 2) -> float:
    """Seconds one QAT step takes here, timed on random patches (after one warm-up step).

    What the app shows before a long CPU job: ``steps x this`` is its expected duration.
    """
    import time

    fp32 = load_model(model)[0] if isinstance(model, (str, Path)) else model
    world = World(device=pick_device(device))
    student = prepare_qat(fp32, parse_plan(plan))
    config = {"lr": 1e-9, "steps": repeats + 1, "hr_weight": 0.0}
    job = QATJob(copy.deepcopy(fp32).float(), student, config, world)
    lr = torch.rand(batch, 3, patch, patch, device=world.device).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(batch, 3, student.scale * patch, student.scale * patch, device=world.device)
    job.step(0, lr, hr)
    start = time.perf_counter()
    for i in range(repeats):
        job.step(i + 1, lr, hr)
    return (time.perf_counter() - start) / repeats
