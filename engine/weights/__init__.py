"""Generator weights: the per-user model cache, safe loading with architecture detection,
and the conversion of the default ESRGAN weights from ncnn."""

from .cache import model_dir, sha256_file, shipped_dir
from .load import (
    ModelInfo,
    config_from_shapes,
    describe_model,
    detect,
    known_models,
    load_model,
    load_state_dict,
    model_from_state_dict,
    resolve,
    save_model,
)
from .ncnn import NcnnConv, install_default_esrgan, ncnn_to_state_dict, parse_ncnn

__all__ = [
    "ModelInfo",
    "NcnnConv",
    "config_from_shapes",
    "describe_model",
    "detect",
    "install_default_esrgan",
    "known_models",
    "load_model",
    "load_state_dict",
    "model_dir",
    "model_from_state_dict",
    "ncnn_to_state_dict",
    "parse_ncnn",
    "resolve",
    "save_model",
    "sha256_file",
    "shipped_dir",
]
