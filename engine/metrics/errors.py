"""Why a metric has no value, as a code callers branch on. Imports nothing heavy, so the app can use it at start-up."""

from __future__ import annotations

from engine.errors import MPSRError


class MetricUnavailable(MPSRError):
    """A metric cannot be computed here; ``reason`` says why, as a code callers can branch on:
    ``model-missing`` (a model or parameter file is absent), ``image-too-small``, ``undefined`` (the score does
    not exist for this image, e.g. a flat one)."""

    MODEL_MISSING, IMAGE_TOO_SMALL, UNDEFINED = "model-missing", "image-too-small", "undefined"

    def __init__(self, message: str, path=None, *, reason: str = UNDEFINED) -> None:
        super().__init__(message, path)
        self.reason = reason


class MetricModelMissing(MetricUnavailable):
    """A file the metric needs is not installed (the Ma model for PI: :func:`engine.metrics.fetch_metric_models`)."""

    def __init__(self, message: str, path=None) -> None:
        super().__init__(message, path, reason=MetricUnavailable.MODEL_MISSING)


class ImageTooSmall(MetricUnavailable):
    """The image is below the metric's minimum size."""

    def __init__(self, message: str, path=None) -> None:
        super().__init__(message, path, reason=MetricUnavailable.IMAGE_TOO_SMALL)
