# clonecast — two commands on a new machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test unit lint bench lock clean up down deploy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP) ## create .venv and install clonecast with its test tools

demo: install ## run the main job on embedded defaults (synthetic trace)
	$(BIN)/clonecast demo

test: install lint up unit ## lint, type-check, start every service (make up), run the whole suite

unit: install ## run the test suite only
	$(BIN)/pytest

up: install ## start dockerd + workload image, the Kubernetes plane (built once, cached), Prefect server + worker, MLflow server
	infra/up.sh

deploy: up ## register the Prefect deployments of prefect.yaml (schedules, the drift automation)
	infra/services/deploy.sh

down: ## stop everything `make up` started
	infra/down.sh

lint: install ## ruff (lint + format), mypy on the packages, import-linter layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install ## benchmarks (ratios against a baseline measured in the same run)
	$(BIN)/python benchmarks/bench_ingest_validate.py
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_prewarm.py
	$(BIN)/python benchmarks/bench_planner.py
	$(BIN)/python benchmarks/bench_actuators.py
	$(BIN)/python benchmarks/bench_forecasting.py

lock: install ## re-pin constraints.txt from the current virtualenv
	{ echo '# Pinned versions that CI and `make` install (pip install -c constraints.txt); regenerate with `make lock`.'; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^clonecast'; } > constraints.txt

clean: ## remove the virtualenv, caches and local state
	rm -rf $(VENV) .clonecast .pytest_cache .mypy_cache .ruff_cache *.egg-info
