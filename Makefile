# The two commands a newcomer runs: `make demo` and `make test`. Both build the virtualenv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit integration clean bench

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/airflow-mlops demo --workdir .demo

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

lint: $(STAMP)
	$(BIN)/ruff check airflow_mlops tests dags scripts
	$(BIN)/ruff format --check airflow_mlops tests dags scripts
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache

# Parse time, task-start parse, operator overhead, validation throughput (about 15 min on 2 cores).
# dag-factory, the comparison baseline, goes into .bench/ only, never into the venv.
bench: $(STAMP)
	@test -f .bench/dagfactory/dagfactory/__init__.py || $(BIN)/python -m pip install --quiet --no-deps \
		--target .bench/dagfactory "dag-factory==1.1.*" || echo "dag-factory not installed; the bench reports it so"
	$(BIN)/python bench/run.py --out docs/benchmarks.md
