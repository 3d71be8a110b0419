"""MPSR engine: Qt-free core (architectures, weights, quantization, inference, metrics, training, sweeps)."""

import os

# OpenMP threads that spin while waiting steal the other core from the GUI and from concurrent jobs:
# int8 inference measured 2.8-7.3 s under load with the default policy vs a steady 0.9 s with PASSIVE
# (docs/quant.md). Must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
