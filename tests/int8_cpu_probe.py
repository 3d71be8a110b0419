"""Run in a subprocess by test_int8_cpu_classes.py (so ONEDNN_MAX_CPU_ISA can be set before torch starts).

    python tests/int8_cpu_probe.py info|conv|generator|save PATH|load PATH

Prints one JSON line: what the int8 kernels of this process computed, on worst-case and real inputs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)

from test_quant_util import photo, psnr, to_tensor  # noqa: E402

from engine import archs  # noqa: E402
from engine.quant import load_artifact, quantize, save_artifact  # noqa: E402
from engine.quant.kernels import kernel_info  # noqa: E402
from engine.quant.overflow import Int8Conv2d, guard  # noqa: E402


def worst_case_conv() -> dict:
    """One 64->64 3x3 int8 conv after a 3->64 one, on a bright, saturated image: large weights, full-range input.

    Returns the largest error of the guarded and of the unguarded conv, in output steps, against the exact
    integer result (its fp32 form)."""
    torch.manual_seed(0)
    net = archs.build("srresnet", num_feat=64, num_block=1).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            # Same-sign weights in every channel pair: the pattern that overflows 16 bits.
            m.weight.data = m.weight.data.abs() * torch.sign(torch.randn(m.out_channels, 1, 1, 1))
    bright = np.clip(photo(32, 32, 100, 200) * 1.6, 0, 1)  # half the pixels clipped at 255
    q = quantize(net, "int8", calib=[bright])
    conv = q.body.inner.blocks[0].conv1
    assert isinstance(conv, Int8Conv2d)
    inputs = {}
    conv.register_forward_pre_hook(lambda mod, args: inputs.setdefault("x", args[0]))
    with torch.no_grad():
        q(to_tensor(bright))
        x = inputs["x"]
        conv.exact = True
        exact = conv(x).int_repr().int()
        conv.exact = False
        kernels = conv(x).int_repr().int()
        guard(q, q.int8_headroom)
        guarded = conv(x).int_repr().int()
    return {"unguarded_steps": int((kernels - exact).abs().max()), "guarded_steps": int((guarded - exact).abs().max()),
            "headroom": q.int8_headroom["body.inner.blocks.0.conv1"]}


def real_generator() -> dict:
    """The shipped SRGAN int8 QAT artifact on a real photo crop: PSNR to its fp32 teacher."""
    from engine.weights import load_model

    net, _ = load_model("srgan")
    qmodel, _ = load_artifact(Path(__file__).resolve().parents[1] / "models" / "srgan-int8-qat.safetensors")
    x = to_tensor(photo(48, 48, 200, 180))
    with torch.no_grad():
        return {"psnr": psnr(net(x), qmodel(x))}


def tiny_output(qmodel) -> list:
    with torch.no_grad():
        return qmodel(to_tensor(photo(24, 24, 60, 40))).flatten().tolist()


def main() -> None:
    result = {"kernels": kernel_info().to_json()}
    verb = sys.argv[1]
    if verb == "conv":
        result.update(worst_case_conv())
    elif verb == "generator":
        result.update(real_generator())
    elif verb == "save":
        torch.manual_seed(0)
        net = archs.build("srresnet", num_feat=16, num_block=2).eval()
        qmodel = quantize(net, "int8", calib=[photo(40, 40, 0, 0), photo(40, 40, 300, 300)])
        save_artifact(qmodel, sys.argv[2], {"name": "probe"})
        result["output"] = tiny_output(qmodel)
    elif verb == "load":
        result["output"] = tiny_output(load_artifact(sys.argv[2])[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
