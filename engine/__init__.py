"""MPSR engine: Qt-free core (architectures, weights, quantization, inference, metrics, training, sweeps)."""

__version__ = "0.1.0"
