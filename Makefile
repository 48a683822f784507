# Quick start:  make train   (installs what is missing into .venv, runs the default experiment)
#               make test    (installs what is missing into .venv, runs the test suite)
# GPU users:    make train TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install train test test-slow test-all lint bench compare clean-outputs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/bayesgan-train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q $(ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_step.py $(ARGS)

compare: $(STAMP)
	$(BIN)/python bench/compare.py $(ARGS)

clean-outputs:
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
