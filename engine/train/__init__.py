"""Training: the SRGAN generator itself, and QAT retraining of any generator under any precision plan.

    train_srgan(out, data=DIR, phase="pretrain"|"gan", steps=N, init=...)  -> weights file + model card
    train_qat(model, plan, data, steps=N)                                    -> converted quantized generator
    run_qat(model_spec, plan, data, steps, out, progress, cancel)            -> saved QAT artifact

Every call takes ``progress``/``cancel``, logs JSON lines, checkpoints, resumes, and runs data-parallel under
torchrun (see :mod:`engine.train.distributed`).
"""

from .data import PatchSampler, default_data_dir
from .qat import measure_step_seconds, run_qat, train_qat
from .srgan import train_srgan

__all__ = ["PatchSampler", "default_data_dir", "measure_step_seconds", "run_qat", "train_qat", "train_srgan"]
