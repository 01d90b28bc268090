# The README's commands. Each target installs what it needs (venv, pinned pip packages,
# the pinned CDK CLI) so a fresh clone needs only Python 3.11+ and Node 20+.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_COLOR := 1
# `make setup QUIET=` shows pip's and npm's own progress.
QUIET ?= --quiet

# $(call step,N/M,what,command): one line when a setup step starts and one with its time.
step = @printf 'setup %s: %s…\n' '$(1)' '$(2)'; started=$$(date +%s); $(3) && \
	printf 'setup %s: done in %ss\n' '$(1)' "$$(( $$(date +%s) - started ))"

.PHONY: setup demo synth test lint typecheck bench schema clean constraints

$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(call step,1/4,Python virtual environment in $(VENV),$(PYTHON) -m venv $(VENV) && \
		$(BIN)/pip install $(QUIET) pip==25.3)
	$(call step,2/4,pinned Python packages (a cold install takes 1-3 minutes),\
		$(BIN)/pip install $(QUIET) -r requirements-dev.txt -c constraints.txt)
	$(call step,3/4,cronguard and cronguard-worker (editable),\
		$(BIN)/pip install $(QUIET) --no-deps --no-build-isolation -e . -e ./worker)
	@touch $@

node_modules/.installed: package.json package-lock.json
	$(call step,4/4,the pinned CDK CLI (npm ci),\
		npm ci --no-audit --no-fund $(if $(QUIET),--loglevel=error))
	@touch $@

setup: $(BIN)/.installed node_modules/.installed

## The main job: synthesize an environment (default dev), show its jobs, and run the
## local simulation of its synthesized state machines (exits non-zero if a guarantee fails).
demo: setup
	npx cdk synth --quiet -c env=$(ENV)
	$(BIN)/cronguard jobs --env $(ENV)
	$(BIN)/cronguard simulate --env $(ENV) --assembly cdk.out

synth: setup
	npx cdk synth --quiet -c env=$(ENV)

## Everything CI runs: lint, types, and all tests.
test: setup lint typecheck
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

## The benchmark (prints figures; not part of the tests).
bench: setup
	$(BIN)/python bench/benchmark.py

schema: setup
	$(BIN)/python -m cronguard.config.schema

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache

## Re-pin every transitive dependency after changing requirements*.txt.
constraints:
	rm -rf .constraints-venv && $(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet pip==25.3
	.constraints-venv/bin/pip install --quiet -r requirements-dev.txt
	(sed -n '1,2p' constraints.txt; .constraints-venv/bin/pip freeze --exclude-editable) > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .constraints-venv
