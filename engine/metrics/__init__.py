"""Quality metrics and dataset evaluation. Importing this package does not import pyiqa (slow)."""

from .iqa import (
    BORDER,
    IQA,
    MA_MODEL_FILE,
    ImageTooSmall,
    MetricModelMissing,
    MetricUnavailable,
    fetch_metric_models,
    get_iqa,
    ma_missing_message,
    ma_model_path,
    metric_cache_dir,
    pi_from,
    preload,
)

__all__ = [
    "BORDER",
    "IQA",
    "MA_MODEL_FILE",
    "ImageTooSmall",
    "MetricModelMissing",
    "MetricUnavailable",
    "fetch_metric_models",
    "get_iqa",
    "ma_missing_message",
    "ma_model_path",
    "metric_cache_dir",
    "pi_from",
    "preload",
]
