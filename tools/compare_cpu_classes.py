"""The VNNI vs no-VNNI table of docs/results.md, from pairs of `mpsr eval` reports.

    .venv/bin/python tools/compare_cpu_classes.py docs/data/cpu-classes

Reads <model>-<set>-vnni.json and <model>-<set>-avx2.json (the second made under ONEDNN_MAX_CPU_ISA=AVX2)
and prints, per quantized precision, PSNR-Y, PSNR to fp32 and NIQE on both classes and their differences.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.metrics.evaluate import load_report  # noqa: E402


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "data" / "cpu-classes")
    print("| generator | set | precision | PSNR-Y VNNI | no VNNI | diff | PSNR to fp32 VNNI | no VNNI | diff "
          "| NIQE VNNI | no VNNI |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for vnni_path in sorted(folder.glob("*-vnni.json")):
        avx2_path = vnni_path.with_name(vnni_path.name.replace("-vnni.json", "-avx2.json"))
        if not avx2_path.exists():
            continue
        model, dataset = vnni_path.stem.rsplit("-", 2)[:2]
        vnni, avx2 = ({e["method"]: e for e in load_report(p).summary()} for p in (vnni_path, avx2_path))
        for method, a in vnni.items():
            b = avx2.get(method)
            if method in ("bicubic", "fp32") or b is None:
                continue
            name = Path(method).stem if method.endswith(".safetensors") else f"{method} (PTQ)"
            print(f"| {model.upper()} | {dataset} | {name} | {a['psnr_y']:.2f} | {b['psnr_y']:.2f} | "
                  f"{b['psnr_y'] - a['psnr_y']:+.2f} | {a['psnr_fp32']:.2f} | {b['psnr_fp32']:.2f} | "
                  f"{b['psnr_fp32'] - a['psnr_fp32']:+.2f} | {a['niqe']:.3f} | {b['niqe']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
