"""Generator architectures. Each is a :class:`StagedSR` with the four named stages."""

from . import rrdbnet, srresnet  # noqa: F401  (registers the architectures)
from .registry import STAGES, StagedSR, build, names

__all__ = ["STAGES", "StagedSR", "build", "names"]
