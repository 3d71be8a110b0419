"""``mpsr train``: train the SRGAN generator (``srgan``) or retrain a quantized one (``qat``).

Both resume from the checkpoint in the work folder when run again with the same arguments, and both run
data-parallel when launched by torchrun (``torchrun --nproc_per_node 2 -m engine.cli train ...``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.cli.common import cancel_token, progress_bar


def _common(p: argparse.ArgumentParser, batch: int, checkpoint_every: int) -> None:
    p.add_argument("--data", metavar="DIR", help="folder of HR photos, searched recursively "
                   "(default: ../shared/data/train in a development checkout)")
    p.add_argument("--steps", type=int, required=True, metavar="N", help="optimisation steps")
    p.add_argument("--batch", type=int, default=batch, metavar="N", help=f"global batch size (default: {batch})")
    p.add_argument("--patch", type=int, default=24, metavar="PX", help="LR patch side (default: 24, HR 96)")
    p.add_argument("--lr", type=float, metavar="RATE", help="initial learning rate (cosine decay)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=checkpoint_every, metavar="N")
    p.add_argument("--workdir", metavar="DIR", help="checkpoints and log.jsonl (default: OUTPUT.work)")
    p.add_argument("--restart", action="store_true", help="discard an existing checkpoint instead of resuming")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the SRGAN generator, or QAT-retrain a quantized generator",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = p.add_subparsers(dest="job", metavar="JOB", required=True)

    s = jobs.add_parser("srgan", help="SRResNet pre-training (L1) or SRGAN adversarial fine-tuning",
                        epilog="example:\n  mpsr train srgan --phase pretrain --steps 6000 -o models/srresnet.safetensors\n"
                        "  mpsr train srgan --phase gan --init models/srresnet.safetensors --steps 1500 "
                        "-o models/srgan.safetensors", formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(s, batch=16, checkpoint_every=100)
    s.add_argument("--phase", choices=["pretrain", "gan"], default="pretrain")
    s.add_argument("--init", metavar="FILE", help="start from these SRResNet weights (required for --phase gan)")
    s.add_argument("--num-feat", type=int, default=64)
    s.add_argument("--num-block", type=int, default=16)
    s.add_argument("--adv-weight", type=float, metavar="W")
    s.add_argument("--fm-weight", type=float, metavar="W")
    s.add_argument("--pixel-weight", type=float, metavar="W")
    s.add_argument("--d-feat", type=int, metavar="N", help="discriminator width (default 64, as in SRGAN)")
    s.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the forward passes, where the CPU/GPU has native bf16 (faster)")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="output .safetensors (+ .json model card)")
    s.set_defaults(func=run_srgan)

    q = jobs.add_parser("qat", help="quantization-aware retraining, distilled from the fp32 generator",
                        epilog="example:\n  mpsr train qat --model esrgan --plan mixed --steps 300 -o esrgan-mixed-qat.safetensors",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(q, batch=8, checkpoint_every=50)
    q.add_argument("--model", default="esrgan", help="esrgan, srgan, or a weights file (default: esrgan)")
    q.add_argument("--plan", default="mixed", help="int8, mixed, 16,8,8,16 style, or a plan .json (default: mixed)")
    q.add_argument("--hr-weight", type=float, default=0.0, metavar="W", help="add W x L1 to the HR patch (default 0)")
    q.add_argument("--texture-weight", type=float, metavar="W",
                   help="add W x L1 between the student's and the teacher's local gradient magnitudes "
                        "(default 0)")
    q.add_argument("--adv-weight", type=float, default=0.0, metavar="W",
                   help="adversarial distillation: W x adversarial loss against a discriminator trained to tell "
                        "the student's output from --adv-real's (default 0)")
    q.add_argument("--fm-weight", type=float, default=0.0, metavar="W",
                   help="W x feature matching on that discriminator's blocks (default 0)")
    q.add_argument("--adv-real", choices=["teacher", "hr"], default="teacher",
                   help="what the discriminator learns as real: the fp32 teacher's output or the HR patch "
                        "(default: teacher)")
    q.add_argument("--freeze-at", type=float, default=0.6, metavar="F",
                   help="freeze all quantization ranges after this fraction of the steps (default: 0.6)")
    q.add_argument("--ranges", choices=["fixed", "moving"], default="fixed",
                   help="activation ranges: 'fixed' = calibrated like PTQ (on --calib) and kept "
                        "(training starts from the PTQ generator), 'moving' = follow the training batches "
                        "(default: fixed)")
    q.add_argument("--calib", metavar="DIR", help="calibration images for --ranges fixed, never the evaluation set "
                                                  "(default: the bundled samples, as PTQ)")
    q.add_argument("-o", "--output", required=True, metavar="PATH", help="output artifact .safetensors, or a folder")
    q.set_defaults(func=run_qat)


def _report(what: str, out: Path, start: float) -> None:
    if out.is_file():
        print(f"{what} -> {out}  {out.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s", file=sys.stdout)


def run_srgan(args: argparse.Namespace) -> int:
    from engine.train import train_srgan

    overrides = {k: v for k, v in (("lr", args.lr), ("adv_weight", args.adv_weight), ("fm_weight", args.fm_weight),
                                   ("pixel_weight", args.pixel_weight), ("d_feat", args.d_feat)) if v is not None}
    start = time.perf_counter()
    with progress_bar(f"SRGAN {args.phase}") as bar:
        out = train_srgan(args.output, data=args.data, phase=args.phase, steps=args.steps, init=args.init,
                          batch=args.batch, patch=args.patch, seed=args.seed, num_feat=args.num_feat,
                          num_block=args.num_block, checkpoint_every=args.checkpoint_every, workdir=args.workdir,
                          restart=args.restart, device=args.device, bf16=args.bf16, progress=bar,
                          cancel=cancel_token(), **overrides)
    _report(f"SRGAN {args.phase}, {args.steps} steps", Path(out), start)
    return 0


def run_qat(args: argparse.Namespace) -> int:
    from engine.train import run_qat as qat

    options = {"batch": args.batch, "patch": args.patch, "seed": args.seed, "hr_weight": args.hr_weight,
               "lr": args.lr, "texture_weight": args.texture_weight, "adv_weight": args.adv_weight,
               "fm_weight": args.fm_weight, "adv_real": args.adv_real, "freeze_at": args.freeze_at,
               "ranges": args.ranges, "calib": args.calib, "checkpoint_every": args.checkpoint_every,
               "device": args.device}
    start = time.perf_counter()
    with progress_bar(f"QAT {args.model} ({args.plan})") as bar:
        out = qat(args.model, args.plan, args.data, args.steps, args.output, bar, cancel_token(),
                  restart=args.restart, workdir=args.workdir, **options)
    _report(f"QAT {args.model} plan {args.plan}, {args.steps} steps", Path(out), start)
    return 0
