"""Generator weights: the per-user model cache, safe loading with architecture detection,
and the conversion of the default ESRGAN weights from ncnn."""

from .cache import (
    check_document,
    model_dir,
    read_json,
    sha256_file,
    shipped_dir,
    write_atomic,
    write_json,
)
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
    "check_document",
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
    "read_json",
    "resolve",
    "save_model",
    "sha256_file",
    "shipped_dir",
    "write_atomic",
    "write_json",
]
