#!/usr/bin/env bash
# `make package`: build the CPU-only one-folder bundle dist/mpsr with PyInstaller in a venv of its own
# (packaging/.venv, so the development .venv is left alone), then smoke-test the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${PKG_VENV:-packaging/.venv}
STAMP="$VENV/.mpsr-deps"
# The CPU build of torch (no nvidia-* wheels) and the torchvision release made for it.
TORCH=torch==2.13.0+cpu
TORCHVISION=torchvision==0.28.0
start=$(date +%s)

pip_quiet() {  # pip's log goes to a file; shown only when pip fails
    "$VENV/bin/pip" "$@" >>"$VENV/pip.log" 2>&1 || { tail -n 30 "$VENV/pip.log"; exit 1; }
}

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ packaging/build.sh -nt "$STAMP" ]; then
    echo "== build venv $VENV: CPU torch, the run-time dependencies, PyInstaller"
    rm -rf "$VENV"  # a venv from an older recipe may hold CUDA wheels
    "$PYTHON" -m venv "$VENV"
    # The project's dependencies except torch/torchvision (CPU builds instead), pyiqa (below), and onnx and
    # onnxruntime (bench/ only).
    "$PYTHON" - >"$VENV/requirements.txt" <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
skip = {"torch", "torchvision", "pyiqa", "onnx", "onnxruntime"}
print("\n".join(d for d in deps if re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() not in skip))
EOF
    pyiqa=$("$PYTHON" -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("pyiqa")))')
    # pyiqa's own requirements are its whole model zoo (transformers, timm, CLIP, datasets, ...). The metrics
    # MPSR uses (NIQE, NRQM, PSNR, SSIM) import only what follows: pyiqa goes in without its requirements.
    pip_quiet install "$TORCH" -r "$VENV/requirements.txt" pyyaml requests huggingface_hub opencv-python-headless \
        pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9
    pip_quiet install --no-deps "$TORCHVISION" "$pyiqa"
    # The PyPI torchvision is linked against the CUDA torch: beside the CPU torch its C++ ops (nms, roi_align:
    # detection only, unused here) do not load, and two of its fake-op registrations, unlike the others in that
    # file, do not check that they did. Guard those two as the others are guarded, so `import torchvision` works.
    meta="$VENV/lib/python3.11/site-packages/torchvision/_meta_registrations.py"
    sed -i -E 's/^@torch\.library\.register_fake\(("torchvision::q?nms")\)$/@(torch.library.register_fake(\1) if torchvision.extension._has_ops() else (lambda fn: fn))/' "$meta"
    [ "$(grep -c '_has_ops() else (lambda fn: fn)' "$meta")" = 2 ] || { echo "torchvision patch did not apply: $meta"; exit 1; }
    if "$VENV/bin/pip" list 2>/dev/null | grep -i -E '^(nvidia|triton)'; then echo "CUDA packages in $VENV"; exit 1; fi
    "$VENV/bin/python" -c 'import torch, pyiqa; assert torch.version.cuda is None, torch.version.cuda'
    touch "$STAMP"
fi
echo "build venv ready after $(($(date +%s) - start)) s"

echo "== pyinstaller packaging/mpsr.spec"
nice -n 10 "$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/mpsr.spec
echo "bundle: dist/mpsr, $(du -sh dist/mpsr | cut -f1) ($(du -sb dist/mpsr | cut -f1) bytes), built in $(($(date +%s) - start)) s"

nice -n 10 "$PYTHON" packaging/smoke.py dist/mpsr/mpsr
echo "make package: $(($(date +%s) - start)) s"
