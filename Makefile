# Every target sets itself up: a fresh clone needs only python3 (>= 3.11),
# and, for tests and the local stack, gcloud's Firestore and Pub/Sub emulators and Java.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
SEEDS ?= 200
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: setup lock test unit lint fmt typecheck dev demo bench chaos scale plan deploy infra-check clean

setup: $(STAMP) $(CHECKOV_STAMP)

# Re-installs only when the pinned requirements or pyproject.toml change, so a second run
# is instant. The project itself is installed editable, without dependencies (the pins are
# the dependencies), for its console script `meetsync`.
$(STAMP): requirements-dev.txt requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	@$(BIN)/uv pip sync -q --python $(BIN)/python requirements-dev.txt
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@
	@echo "setup: $(VENV) ready"

# checkov's pins clash with the project's, so it gets a virtualenv of its own.
$(CHECKOV_STAMP): requirements-checkov.txt | $(STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	@$(BIN)/uv pip sync -q --python $(CHECKOV_VENV)/bin/python requirements-checkov.txt
	@touch $@
	@echo "setup: $(CHECKOV_VENV) ready"

# Regenerates the pinned requirements from pyproject.toml (not part of CI).
lock: setup
	$(BIN)/uv pip compile -q --python-version 3.11 pyproject.toml -o requirements.txt
	$(BIN)/uv pip compile -q --python-version 3.11 pyproject.toml --extra dev -o requirements-dev.txt

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

dev: setup
	$(BIN)/python -m devstack.stack $(DEV_ARGS)

demo: setup
	$(BIN)/python -m devstack.demo

bench: setup
	$(BIN)/python -m tests.bench

chaos: setup
	$(BIN)/python -m tests.chaos --seeds $(SEEDS)

scale: setup
	$(BIN)/python -m tests.scale

plan:
	cd infra && terraform init && terraform plan -var-file=terraform.tfvars

deploy:
	cd infra && terraform init && terraform apply -var-file=terraform.tfvars

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .local .bench .mypy_cache .pytest_cache .ruff_cache
