# Everything sets itself up: `make run` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	# What the benchmarks compare against; 2.13.0 is the CPU wheel (never a runtime dependency).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	touch $@

## run: serve on GRADLAB_HOST:GRADLAB_PORT (default 127.0.0.1:8000), Swagger UI at /docs
run: $(VENV)/.installed-run
	$(BIN)/python -m app

## lint: ruff and mypy
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test: lint, then the whole test suite
test: lint
	$(BIN)/pytest

## bench: the benchmarks, written into benchmarks/README.md
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
