"""Copy measured metrics from `mpsr eval` reports into a shipped model's card (models/<name>.json).

    .venv/bin/python tools/card_metrics.py models/srgan.safetensors --method fp32 \
        --report docs/data/srgan-set5.json --report docs/data/srgan-set14.json

``--method`` is the report's method name for this model (fp32, int8, or the artifact path given to
--precision). For a quantized artifact, whose card lives inside the file, the sidecar JSON is created from
that card. Each dataset entry names the report it came from (docs/results.md gives its command).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from release_model import card_of  # noqa: E402

from engine.files import write_atomic  # noqa: E402
from engine.metrics.evaluate import load_report  # noqa: E402
from engine.weights.cache import sha256_file  # noqa: E402

KEYS = ("psnr_y", "ssim_y", "niqe", "pi", "psnr_fp32", "images", "seconds_mean")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--method", required=True)
    parser.add_argument("--report", type=Path, action="append", required=True)
    args = parser.parse_args()
    card_path = args.model.with_suffix(".json")
    card = card_of(args.model)
    if not card_path.is_file():
        card.update(file=args.model.name, sha256=sha256_file(args.model))
    metrics = card.setdefault("metrics", {})
    for path in args.report:
        report = load_report(path)
        entry = next((e for e in report.summary() if e["method"] == args.method), None)
        if entry is None:
            raise SystemExit(f"{path}: no method {args.method!r} (has {', '.join(report.methods())})")
        metrics[report.config["dataset"]] = {k: entry.get(k) for k in KEYS} | {"report": str(path)}
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    write_atomic(card_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"{card_path}: metrics for {', '.join(metrics)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
