"""An independent NumPy interpreter for ncnn graphs, used to check the ESRGAN conversion.

It shares no code with engine/weights/ncnn.py and knows nothing about RRDBNet: it reads
the .param/.bin itself and executes the graph layer by layer as ncnn would (in float64),
so agreement with our PyTorch model proves that the conversion mapped every weight to the
right place and that our architecture computes what the ncnn graph computes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FP16_TAG = 0x01306B47


@dataclass
class Layer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


def _number(text: str):
    return float(text) if any(c in text for c in ".eE") else int(text)


def _params(tokens: list[str]) -> dict:
    params = {}
    for token in tokens:
        key, value = token.split("=", 1)
        key = int(key)
        if key <= -23300:
            params[-key - 23300] = [_number(v) for v in value.split(",")[1:]]
        else:
            params[key] = _number(value)
    return params


def read_graph(param_path: Path, bin_path: Path) -> list[Layer]:
    lines = Path(param_path).read_text().splitlines()
    assert lines[0].strip() == "7767517", "bad ncnn magic"
    layer_count = int(lines[1].split()[0])
    data = Path(bin_path).read_bytes()
    offset = 0
    layers = []
    for line in lines[2:2 + layer_count]:
        tokens = line.split()
        n_in, n_out = int(tokens[2]), int(tokens[3])
        layer = Layer(tokens[0], tokens[1], tokens[4:4 + n_in], tokens[4 + n_in:4 + n_in + n_out],
                      _params(tokens[4 + n_in + n_out:]))
        if layer.kind == "Convolution":
            count = layer.params[6]
            (tag,) = struct.unpack_from("<I", data, offset)
            offset += 4
            if tag == FP16_TAG:
                layer.weight = np.frombuffer(data, "<f2", count, offset).astype(np.float64)
                offset += (2 * count + 3) // 4 * 4
            else:
                assert tag == 0, f"{layer.name}: quantized weights are not handled by the reference"
                layer.weight = np.frombuffer(data, "<f4", count, offset).astype(np.float64)
                offset += 4 * count
            if layer.params.get(5, 0):
                layer.bias = np.frombuffer(data, "<f4", layer.params[0], offset).astype(np.float64)
                offset += 4 * layer.params[0]
        layers.append(layer)
    assert offset == len(data), f"{len(data) - offset} unread bytes in {bin_path}"
    return layers


def _convolution(x: np.ndarray, layer: Layer) -> np.ndarray:
    p = layer.params
    k = p[1]
    assert p.get(11, k) == k and p.get(3, 1) == 1 and p.get(2, 1) == 1, "only square stride-1 convs"
    pad = p.get(4, 0)
    out_ch = p[0]
    weight = layer.weight.reshape(out_ch, -1, k, k)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))  # C, H, W, k, k
    y = np.tensordot(weight, windows, axes=([1, 2, 3], [0, 3, 4]))  # O, H, W
    if layer.bias is not None:
        y += layer.bias[:, None, None]
    act = p.get(9, 0)
    if act == 1:
        y = np.maximum(y, 0)
    elif act == 2:
        slope = p.get(10, [0.0])[0]
        y = np.where(y > 0, y, y * slope)
    else:
        assert act == 0, f"activation {act} not handled"
    return y


def run(layers: list[Layer], image: np.ndarray) -> np.ndarray:
    """Run the graph on ``image`` (C, H, W, float); return the blob named ``output`` (or the last one)."""
    blobs: dict[str, np.ndarray] = {}
    for layer in layers:
        xs = [blobs[name] for name in layer.inputs]
        p = layer.params
        if layer.kind == "Input":
            ys = [np.asarray(image, dtype=np.float64)]
        elif layer.kind == "Convolution":
            ys = [_convolution(xs[0], layer)]
        elif layer.kind == "Split":
            ys = [xs[0]] * len(layer.outputs)
        elif layer.kind == "Concat":
            ys = [np.concatenate(xs, axis=p.get(0, 0))]
        elif layer.kind == "Eltwise":
            assert p.get(0, 1) == 1, "only Eltwise SUM"
            coeffs = p.get(1) or [1.0] * len(xs)
            ys = [sum(c * x for c, x in zip(coeffs, xs, strict=True))]
        elif layer.kind == "BinaryOp":
            assert p.get(0, 0) == 0 and p.get(1, 0) == 0, "only tensor + tensor"
            ys = [xs[0] + xs[1]]
        elif layer.kind == "Interp":
            assert p.get(0) == 1, "only nearest"
            sh, sw = p.get(1, 1.0), p.get(2, 1.0)
            assert sh == int(sh) and sw == int(sw), "only integer scales"
            ys = [np.repeat(np.repeat(xs[0], int(sh), axis=1), int(sw), axis=2)]
        else:
            raise NotImplementedError(layer.kind)
        blobs.update(zip(layer.outputs, ys, strict=True))
    return blobs.get("output", blobs[layers[-1].outputs[0]])
