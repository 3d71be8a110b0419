"""Give quantized artifacts made before int8 headroom existed their headroom (engine/quant/overflow.py).

    .venv/bin/python tools/measure_int8_headroom.py models/*-qat.safetensors

Without it, a CPU whose int8 kernels saturate runs every int8 conv of the artifact exact (right, but at fp32
speed). The tensors are not touched; the artifact is rewritten atomically with the headroom measured on the
default calibration images, and a ``.json`` card beside it gets the new file's sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.errors import MPSRError  # noqa: E402
from engine.files import write_atomic  # noqa: E402
from engine.quant import calibration_images, load_artifact, save_artifact  # noqa: E402
from engine.quant.overflow import LIMIT, guard, measure_headroom  # noqa: E402
from engine.weights.cache import sha256_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", type=Path, nargs="+")
    args = parser.parse_args()
    images: dict[int, list] = {}  # calibration patches per scale
    for path in args.artifacts:
        try:
            qmodel, info = load_artifact(path)
        except MPSRError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if qmodel.scale not in images:
            images[qmodel.scale] = calibration_images(scale=qmodel.scale)
        guard(qmodel, measure_headroom(qmodel, images[qmodel.scale]))
        save_artifact(qmodel, path, info.card)
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            card = json.loads(sidecar.read_text(encoding="utf-8"))
            card["sha256"] = sha256_file(path)
            text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
            write_atomic(sidecar, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8"))
        over = sum(v >= LIMIT for v in qmodel.int8_headroom.values())
        print(f"{path}: {over} of {len(qmodel.int8_headroom)} int8 convs at or above {LIMIT} of the 16-bit pair limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
