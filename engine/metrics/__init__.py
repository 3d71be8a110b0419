"""Quality metrics and dataset evaluation.

Importing this package imports neither torch nor pyiqa: the app reads the metric registry and the reason codes
at start-up, before torch is loaded. The scoring names below load :mod:`.iqa` (torch) on first use.
"""

from __future__ import annotations

import importlib

from .errors import ImageTooSmall, MetricModelMissing, MetricUnavailable

_FROM_IQA = (
    "BORDER",
    "IQA",
    "MA_MODEL_FILE",
    "fetch_metric_models",
    "get_iqa",
    "ma_missing_message",
    "ma_model_path",
    "metric_cache_dir",
    "pi_from",
    "preload",
)


def __getattr__(name: str):
    if name in _FROM_IQA:
        return getattr(importlib.import_module(".iqa", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImageTooSmall", "MetricModelMissing", "MetricUnavailable"] + list(_FROM_IQA)
