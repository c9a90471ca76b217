# The two commands a newcomer runs: `make demo` and `make test`. Both build the virtualenv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
, := ,
VENV ?= .venv
BIN := $(VENV)/bin
# What the demo needs (the package and its runtime dependencies), then the development tools on top.
RUNTIME := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
PIP_INSTALL := $(BIN)/python -m pip install --progress-bar on -c requirements/constraints.txt

# A first `make demo` installs for minutes: each phase prints a line with the time since make started,
# so a newcomer can tell progress from a hang.
STARTED := $(shell date +%s)
phase = @echo "==> [$$(( $$(date +%s) - $(STARTED) )) s] $(1)"

.PHONY: demo test lint typecheck unit integration distributed clean bench

$(RUNTIME): pyproject.toml requirements/constraints.txt
	$(call phase,Creating $(VENV) with $(PYTHON))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(call phase,Installing airflow-mlops with Airflow$(,) MLflow$(,) GX$(,) DVC and scikit-learn (requirements/constraints.txt pins them; minutes on a first download))
	$(PIP_INSTALL) -e .
	$(call phase,Installed)
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(call phase,Installing the development tools (pytest$(,) ruff$(,) mypy$(,) playwright and the distributed tier's clients))
	$(PIP_INSTALL) -e ".[dev]"
	$(call phase,Installed)
	touch $(STAMP)

demo: $(RUNTIME)
	$(call phase,Running the demo: the example pipeline three times$(,) each new champion deployed on a local endpoint)
	$(BIN)/airflow-mlops demo --workdir .demo
	$(call phase,Demo done)

# Tiers are folders (tests/conftest.py marks each test by its folder). The whole suite runs on 2 xdist
# workers (the machine has 2 cores; more only adds contention). tests/conftest.py schedules a test file
# as a whole on one worker (its module fixtures: Airflow databases, trained models, servers) and the
# distributed tier on one (one loopback stack); --dist loadgroup would not: pytest-xdist 3.8.0's groups are
# ignored under pytest 9.2 (xdist issue #1386). --durations=15 prints the slowest tests, so a new slow one is seen.
XDIST := -n 2 --dist loadfile

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q $(XDIST) --durations=15

# In this process only: no subprocess, no `airflow db migrate`, no pip (tests/unit/conftest.py fails a test
# that starts a process). Measured: 947 tests in 3 min 22 s (3 min 43 s wall, 1.5 min of CPU) on 2 cores
# while other jobs kept the load at 4-5; idle, the CPU time bounds it near 2 min.
unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit tests/unit $(XDIST)

# Other processes: the CLIs, clean interpreters, dag.test() runs, `mlflow server`, `airflow api-server`.
integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration tests/integration $(XDIST) --durations=15

# CeleryExecutor + Postgres + Redis + MLflow server on loopback (needs Postgres and Redis).
distributed: $(STAMP)
	$(BIN)/python -m pytest -q -m distributed tests/distributed

lint: $(STAMP)
	$(BIN)/ruff check airflow_mlops tests dags scripts
	$(BIN)/ruff format --check airflow_mlops tests dags scripts
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The demo's endpoint (.demo/endpoints) outlives the demo on purpose: stop its processes before its folder
# goes. Standard library only (-E -S: no site-packages; airflow_mlops/deploy/sweep.py), so it works when
# $(VENV) is already gone.
clean:
	$(PYTHON) -E -S -m airflow_mlops.deploy.sweep .demo/endpoints
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache

# Parse time, task-start parse, operator overhead, validation throughput (about 15 min on 2 cores).
# dag-factory, the comparison baseline, goes into .bench/ only, never into the venv.
bench: $(STAMP)
	@test -f .bench/dagfactory/dagfactory/__init__.py || $(BIN)/python -m pip install --quiet --no-deps \
		--target .bench/dagfactory "dag-factory==1.1.*" || echo "dag-factory not installed; the bench reports it so"
	$(BIN)/python bench/run.py --out docs/benchmarks.md
