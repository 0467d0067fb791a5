# One command per workflow; CI runs `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast check format serve bench docs clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/copyloom demo

# Everything CI runs: both stores, the S3 server, the browser, real processes; the 25 slowest are printed.
test: check
	$(BIN)/python -m pytest -n 2 --durations=25

# The inner loop: lint, types, import layers, and every test that needs no store, server, process or
# browser (the engine, the domain, parsing, charts, formats); well under a minute.
test-fast: check
	$(BIN)/python -m pytest -m "not integration and not slow" -q

check: $(STAMP)
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/ruff check --fix src tests scripts benchmarks

bench: $(STAMP)
	$(BIN)/copyloom bench optimize --seeds 40
	$(BIN)/python benchmarks/ingest.py --events 200000
	$(BIN)/python benchmarks/serve.py

serve: $(STAMP)
	$(BIN)/copyloom init
	$(BIN)/copyloom serve

docs: $(STAMP)
	$(BIN)/python scripts/cli_docs.py > docs/cli.md
	$(BIN)/python scripts/settings_docs.py > docs/settings.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
