#!/usr/bin/env bash
# `make package`: build the one-folder bundle dist/mpsr with PyInstaller in a venv of its own
# (packaging/.venv, so the development .venv is left alone), then smoke-test the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${PKG_VENV:-packaging/.venv}
STAMP="$VENV/.mpsr-deps"
start=$(date +%s)

pip_quiet() {  # pip's log goes to a file; shown only when pip fails
    "$VENV/bin/pip" "$@" >"$VENV/pip.log" 2>&1 || { tail -n 30 "$VENV/pip.log"; exit 1; }
}

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ packaging/build.sh -nt "$STAMP" ]; then
    echo "== build venv $VENV: the project's dependencies and PyInstaller"
    "$PYTHON" -m venv "$VENV"
    "$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        >"$VENV/requirements.txt"
    pip_quiet install -r "$VENV/requirements.txt" pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9
    # facexlib (a pyiqa requirement) pulls the GUI build of OpenCV, which would bring Qt5 and ffmpeg into the
    # bundle; pyiqa needs only the headless build, which shares the cv2 folder and so is reinstalled after.
    cv=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))')
    pip_quiet uninstall -y opencv-python
    pip_quiet install --no-deps --force-reinstall "opencv-python-headless==$cv"
    touch "$STAMP"
fi

echo "== pyinstaller packaging/mpsr.spec"
nice -n 10 "$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/mpsr.spec
echo "bundle: dist/mpsr, $(du -sh dist/mpsr | cut -f1) ($(du -sb dist/mpsr | cut -f1) bytes)"

nice -n 10 "$PYTHON" packaging/smoke.py dist/mpsr/mpsr
echo "make package: $(($(date +%s) - start)) s"
