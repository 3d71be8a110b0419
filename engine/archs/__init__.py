"""Generator architectures. Each is a :class:`StagedSR` with the four named stages."""

from . import rrdbnet, srresnet  # noqa: F401  (registers the architectures)
from .detection import UNKNOWN
from .registry import STAGES, StagedSR, build, detectors, names, register, scale_of

__all__ = ["STAGES", "UNKNOWN", "StagedSR", "build", "detectors", "names", "register", "scale_of"]
