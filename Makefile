# Everything runs in a local virtual environment; torch is pinned by constraints.txt so that
# an install never resolves to a newer (CUDA-sized) torch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install --quiet -c constraints.txt

.PHONY: install demo test test-all lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt convolve/data/_bilinear.c \
		convolve/layers/_conv_pool.c convolve/layers/_conv_pool_kernels.h
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/convolve demo

test: install
	$(PY) -m ruff check convolve tests benchmarks examples
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m ''

lint: install
	$(PY) -m ruff check convolve tests benchmarks examples
	$(PY) -m ruff format --check convolve tests benchmarks examples

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) benchmarks/bench_mnist_training.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
