# mlgate: two commands on a fresh machine.
#   make run    set up, generate the demo data, run the daily DAG end to end
#   make test   set up and run the test suite
# Everything the embedded default writes lives in $(STATE) (git-ignored): rm -rf it to reset.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE ?= $(CURDIR)/state
export MLGATE_STATE := $(STATE)

# The pipeline (a file of include/pipelines), the demo size and the day the run covers
# (the last generated day). EVENTS empty: the demo's own default (fraud: 1,000,000).
PIPELINE ?= fraud
DAYS ?= 60
EVENTS ?= $(TRANSACTIONS)
END_DATE ?= 2026-10-31
SEED ?= 7

UV_VERSION := $(shell sed -n "s/^uv==//p" requirements.txt)

BAD_DAY ?= 2026-11-01
BAD_KIND ?= null_values

.PHONY: help install lock run generate demo-bad-day test test-e2e lint lint-imports mlflow-ui airflow-ui clean airflow stop status test-ui test-loop

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mlgate needs Python 3.11+"' \
	  || { echo "mlgate needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: requirements.txt pyproject.toml $(BIN)/uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --editable .
	@touch $@

install: $(VENV)/.installed  ## create .venv with the pinned dependencies (uv, fast)
	@scripts/java-home $(BIN)/python >/dev/null

lock: $(BIN)/uv  ## re-resolve requirements.in into the pinned requirements.txt
	$(BIN)/uv pip compile requirements.in --override requirements-overrides.txt \
	  --python-version 3.11 --no-header --output-file requirements.txt

generate: install  ## write the PIPELINE's demo source database (skipped when it has data)
	$(BIN)/mlgate generate --pipeline $(PIPELINE) --if-missing --days $(DAYS) \
	  $(if $(EVENTS),--events $(EVENTS)) --end-date $(END_DATE) --seed $(SEED)

run: generate  ## set up, generate demo data, run PIPELINE's retrain DAG for END_DATE (fraud)
	$(BIN)/mlgate run-day --pipeline $(PIPELINE) --date $(END_DATE)

# Spark in the tests needs the same Java as the pipeline.
JAVA_ENV = JAVA_HOME="$$(scripts/java-home $(BIN)/python)"

demo-bad-day: install  ## after make run: a broken feed on BAD_DAY; watch a gate stop it
	@$(BIN)/mlgate champion --pipeline $(PIPELINE) >/dev/null 2>&1 || { echo "run 'make run' first"; exit 1; }
	$(BIN)/mlgate inject-fault --pipeline $(PIPELINE) --date $(BAD_DAY) --kind $(BAD_KIND)
	@if $(BIN)/mlgate run-day --pipeline $(PIPELINE) --date $(BAD_DAY); then \
	  echo "the bad day was NOT stopped: that is a bug"; exit 1; \
	else \
	  echo; echo "as intended: the gates stopped $(BAD_DAY); the champion is unchanged:"; \
	  $(BIN)/mlgate champion --pipeline $(PIPELINE) | head -3; \
	  echo; echo "alert emails (.eml) in $(STATE)/mail:"; ls -1 $(STATE)/mail/*.eml | tail -3; \
	fi

test: install lint-imports  ## the test suite (import contracts, unit, DAG integrity, compose file)
	@scripts/prerequisites test
	$(JAVA_ENV) $(BIN)/pytest -q -ra -m "not e2e and not services"

# Its own target (14 to 20 minutes): with the unit tests it would take `make test` past
# its 20-minute budget on a 2-core machine. .ci/run runs it after `make test`.
test-e2e: install  ## end to end: the real DAGs of both demo pipelines (Airflow, spark-submit, MLflow, SMTP)
	@scripts/prerequisites test
	$(JAVA_ENV) $(BIN)/pytest -q -ra -m "e2e and not services"

test-ui: install  ## the services: REST trigger, browser, schedule, Spark cluster (installs chromium)
	@scripts/prerequisites test-ui
	$(JAVA_ENV) $(BIN)/pytest -q -ra -m services tests/services

# The loop after promotion on the running services (about 15 minutes): drift, the monitor's
# retrain request, approval over REST, a canary promoted, a careless one rolled back.
test-loop: install  ## after promotion end to end: monitor, asset retrain, REST approval, canary
	@scripts/prerequisites test
	$(JAVA_ENV) $(BIN)/pytest -q -ra -m services tests/loop

lint-imports: install  ## the layering of include/mlgate (contracts in pyproject.toml)
	$(BIN)/lint-imports --no-cache --no-logo

# Not part of `make test` (minutes): run before a release; .ci/run runs it when what it
# mutates or the tests that judge it changed. One mutmut worker per core (MUTATION_WORKERS=1
# on a machine busy with other work).
MUTATION_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
.PHONY: mutation
mutation: install  ## mutation tests of gates, record rules, config -> docs/testing.md (score, survivors)
	$(BIN)/python scripts/mutation.py --max-children $(MUTATION_WORKERS) --write docs/testing.md

BENCH_ROWS ?= 1000000
BENCH_REPEATS ?= 5

.PHONY: bench-extract
bench-extract: install  ## extraction benchmark on a local PostgreSQL -> docs/benchmarks.md
	$(BIN)/python scripts/bench_extract.py --rows $(BENCH_ROWS) --repeats $(BENCH_REPEATS) \
	  --write docs/benchmarks.md

BASELINE ?=
.PHONY: bench-features
bench-features: install  ## feature job on the 1M-row fraud demo (BASELINE=<checkout> compares) -> docs/benchmarks.md
	$(BIN)/python scripts/bench_features.py --rows $(BENCH_ROWS) --repeats 3 \
	  $(if $(BASELINE),--baseline $(BASELINE)) --write docs/benchmarks.md

BENCH_RECORDS_ROWS ?= 20000 1000000

.PHONY: bench-records
bench-records: install  ## record rules on a day of the lake (20k and 1M rows) -> docs/benchmarks.md
	$(BIN)/python scripts/bench_records.py --rows $(BENCH_RECORDS_ROWS) --repeats $(BENCH_REPEATS) \
	  --write docs/benchmarks.md

# The scale benchmark (issue 13): fraud at SCALE_ROWS, shop at SCALE_SHOP_ROWS events; results
# in docs/bench/scale-$(SCALE_LABEL).json; CHECKOUT=<dir> measures another checkout (its own
# .venv: the "before"); SPARK=cluster runs the Spark jobs on a standalone master + 2 workers.
SCALE_ROWS ?= 250000 1000000 4000000
SCALE_SHOP_ROWS ?= 200000 800000
SCALE_LABEL ?= $(if $(filter cluster,$(SPARK)),cluster,after)
CHECKOUT ?= $(CURDIR)

.PHONY: bench-scale
bench-scale: install  ## the DAG at growing sizes, time + memory per task (SCALE_ROWS SCALE_SHOP_ROWS SCALE_LABEL CHECKOUT SPARK) -> docs/benchmarks.md
	$(BIN)/python scripts/bench_scale.py --label $(SCALE_LABEL) --checkout $(CHECKOUT) \
	  --rows $(SCALE_ROWS) --shop-rows $(SCALE_SHOP_ROWS) --spark $(SPARK) --write docs/benchmarks.md

BENCH_SECONDS ?= 10

.PHONY: bench-serve score-day serve
bench-serve: install  ## scoring benchmark on the demo champion (make run first) -> docs/benchmarks.md
	$(JAVA_ENV) $(BIN)/python scripts/bench_serve.py --seconds $(BENCH_SECONDS) \
	  --write docs/benchmarks.md

.PHONY: rollout-simulation
rollout-simulation: install  ## the rollout decision on synthetic score streams (false promotions, days to roll back) -> docs/monitoring.md
	$(BIN)/python scripts/rollout_simulation.py --write docs/monitoring.md

ONLINE_ENTITIES ?= 1000000
.PHONY: bench-online
bench-online: install  ## online features: 1M-entity state, embedded and Redis, in process and HTTP (make run first) -> docs/benchmarks.md
	@scripts/prerequisites test
	$(BIN)/python scripts/bench_online.py --entities $(ONLINE_ENTITIES) --write docs/benchmarks.md

serve: install  ## PIPELINE's champion (ONNX twin) over HTTP: http://127.0.0.1:8000
	$(BIN)/mlgate serve --pipeline $(PIPELINE) --port 8000

score-day: install  ## batch-score END_DATE with PIPELINE's champion (its _score DAG)
	$(BIN)/mlgate score-day --pipeline $(PIPELINE) --date $(END_DATE)

lint: install
	$(BIN)/ruff check include dags plugins tests
	$(BIN)/ruff check --select AIR dags plugins

mlflow-ui: install  ## MLflow UI on the embedded state: http://127.0.0.1:5000 (login: admin)
	$(BIN)/python -m mlgate.local.mlflow_server --embedded 5000

airflow-ui: install  ## Airflow (standalone) on the embedded state: http://127.0.0.1:8080
	@eval "$$($(BIN)/python -c 'from mlgate.local.embedded import embedded_env; from mlgate.local.dagfiles import sync_dag_files; sync_dag_files(); import shlex; \
	  [print(f"export {k}={shlex.quote(v)}") for k, v in embedded_env().items() \
	   if k.startswith(("AIRFLOW", "MLGATE", "JAVA", "PATH", "GX", "MLFLOW"))]')" && \
	  echo "login: user 'admin', password in $$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" && \
	  $(BIN)/airflow standalone

# SPARK=cluster also starts a Spark standalone master + 2 workers and sends the DAG's Spark
# jobs there. Ports: MLGATE_AIRFLOW_PORT, MLGATE_MLFLOW_PORT, ... (mlgate services --help).
SPARK ?= local
airflow: install  ## Airflow services + MLflow UI + mail sink in the background (SPARK=cluster: + Spark)
	$(BIN)/mlgate services start $(if $(filter cluster,$(SPARK)),--spark-cluster)

stop:  ## stop what `make airflow` started
	$(BIN)/mlgate services stop

status:  ## which of the services run, and Airflow's health
	@$(BIN)/mlgate services status || true  # exit code 3 (nothing runs) is an answer here

clean:  ## remove the embedded state (demo data, lake, MLflow, Airflow DB)
	rm -rf $(STATE)
