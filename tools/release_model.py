"""Ship a trained model: copy it into models/, its training log into docs/data/training/, and write its card.

    .venv/bin/python tools/release_model.py /tmp/qat/srgan-mixed-qat.safetensors srgan-mixed-qat

The source is what `mpsr train srgan|qat` wrote: float weights with a ``.json`` card beside them, or a
quantized artifact with the card inside; the log is the one in its ``.work`` folder. The card's data and log
paths are rewritten relative to the repository, so they point at files a clone has. Then
tools/card_metrics.py adds the measured metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.files import write_atomic  # noqa: E402
from engine.weights.cache import sha256_file  # noqa: E402


def card_of(src: Path) -> dict:
    """The card of a model file: its ``.json`` sidecar, or for a quantized artifact the card inside it."""
    sidecar = src.with_suffix(".json")
    if sidecar.is_file():
        return json.loads(sidecar.read_text(encoding="utf-8"))
    from engine.quant import read_info

    info = read_info(src)
    return {**info.card, "arch": info.arch, "config": info.config, "backend": info.backend}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the trained .safetensors")
    parser.add_argument("name", help="its name in models/")
    parser.add_argument("--continues", type=Path, metavar="CARD",
                        help="the card of the model this run started from (--init); its training record is kept "
                             "in the new card as training.continued_from")
    args = parser.parse_args()
    log = Path(f"{args.source}.work") / "log.jsonl"
    if not args.source.is_file() or not log.is_file():
        raise SystemExit(f"{args.source}: needs the file and its training log {log}")
    card = card_of(args.source)
    previous = json.loads(args.continues.read_text(encoding="utf-8")) if args.continues else None
    dst = REPO / "models" / f"{args.name}.safetensors"
    write_atomic(dst, lambda tmp: shutil.copyfile(args.source, tmp))
    log_dst = REPO / "docs" / "data" / "training" / f"{args.name}-log.jsonl"
    write_atomic(log_dst, lambda tmp: shutil.copyfile(log, tmp))
    training = card.get("training", {})
    training["log"] = str(log_dst.relative_to(REPO))
    if "data" in training:
        training["data"] = os.path.relpath(training["data"], REPO)
    if previous is not None:
        training["continued_from"] = {"sha256": previous.get("sha256"), "training": previous.get("training"),
                                      "metrics": previous.get("metrics")}
    card.update(name=args.name, file=dst.name, sha256=sha256_file(dst))
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    write_atomic(dst.with_suffix(".json"), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"{dst.relative_to(REPO)}, {log_dst.relative_to(REPO)}, {args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
