# The README's commands. Each target installs what it needs (venv, pinned pip packages,
# the pinned CDK CLI, Debian's chromium for the report test) so a fresh clone needs only
# Python 3.11+ and Node 20+.
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

# $(call step,N/M,what,command): one line when a setup step starts and one with its time
# ($(call timed,…) is the same inside a shell command of a recipe).
timed = printf 'setup %s: %s…\n' '$(1)' '$(2)'; started=$$(date +%s); $(3) && \
	printf 'setup %s: done in %ss\n' '$(1)' "$$(( $$(date +%s) - started ))"
step = @$(call timed,$(1),$(2),$(3))
# Headless Chromium from Debian's packages: tests/e2e/test_report.py opens the simulation
# report in it. apt-get's own output is shown only if it fails (or with QUIET=).
CHROMIUM := /usr/bin/chromium
APT_LOG := /tmp/cronguard-setup-apt.log
APT_CHROMIUM := { apt-get update $(if $(QUIET),-qq) && DEBIAN_FRONTEND=noninteractive \
	apt-get install -y $(if $(QUIET),-qq) --no-install-recommends chromium; } \
	$(if $(QUIET),>$(APT_LOG) 2>&1 || { cat $(APT_LOG); false; })
REPORT := cdk.out/simulation.html

.PHONY: setup installs demo synth test lint typecheck bench schema clean constraints

# The venv's packages are installed by uv (pinned here, bootstrapped by the venv's pip): it
# fetches and unpacks the pinned wheels in parallel, about 10 s cold against pip's 90 s.
# pip stays in the venv: the Lambda bundling runs `pip install --platform` (stacks/lambda_code.py).
PIP_VERSION := 25.3
UV_VERSION := 0.13.8
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python $(QUIET)

# Bytecode: each module is compiled by the first interpreter that imports it, which writes it
# for the others, as Python does by default. These machines set PYTHONDONTWRITEBYTECODE=1, and
# uv writes none at install: every interpreter a test run starts (the xdist workers, the synth
# and cfn-lint subprocesses) would compile the ~75 MB of source it imports anew, about 140 s
# of CPU. Compiling the whole venv at install instead (278 MB, 183 MB of it aws_cdk's modules
# for services cronguard never uses) cost about 35 s of every fresh setup.
unexport PYTHONDONTWRITEBYTECODE
# What the test workers import (aws_cdk, moto, cfn-lint, the tests), compiled once after each
# install by one collection of the tests (`make test` runs it beside mypy), before the xdist
# workers start: each of them would otherwise compile all of it at the same time.
COMPILED := $(BIN)/.compiled

$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(call step,1/5,Python virtual environment in $(VENV) with uv,\
		$(PYTHON) -m venv $(VENV) && $(BIN)/pip install $(QUIET) uv==$(UV_VERSION))
	$(call step,2/5,pinned Python packages and pip,\
		$(UV_INSTALL) -r requirements-dev.txt -c constraints.txt pip==$(PIP_VERSION))
	$(call step,3/5,cronguard and cronguard-worker (editable),\
		$(UV_INSTALL) --no-deps --no-build-isolation -e . -e ./worker)
	@touch $@

node_modules/.installed: package.json package-lock.json
	$(call step,4/5,the pinned CDK CLI and state machine validators (npm ci),\
		npm ci --no-audit --no-fund $(if $(QUIET),--loglevel=error))
	@touch $@

$(CHROMIUM):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		$(call timed,5/5,Debian chromium for the report test (apt-get; about 30 s),$(APT_CHROMIUM)); \
	else \
		echo "setup 5/5: $(CHROMIUM) is missing and apt-get as root is not available: install Chromium there to run tests/e2e/test_report.py (Debian: apt-get install --no-install-recommends chromium)"; \
	fi

# The Python, Node and Debian installs do not depend on each other: they run side by side
# (a sub-make with -j), so a fresh machine waits for the longest, not for all three in turn.
# Their step lines interleave; each says which it is.
setup:
	@$(MAKE) --no-print-directory -j3 installs

installs: $(BIN)/.installed node_modules/.installed $(CHROMIUM)
	@: # a recipe, so that make has nothing to say when all three are done already

## The main job: synthesize an environment (default dev), show its jobs, and run the
## local simulation of its synthesized state machines (exits non-zero if a guarantee fails);
## its timeline page is written to $(REPORT).
demo: setup
	npx cdk synth --quiet -c env=$(ENV)
	$(BIN)/cronguard jobs --env $(ENV)
	$(BIN)/cronguard simulate --env $(ENV) --assembly cdk.out --report $(REPORT)

synth: setup
	npx cdk synth --quiet -c env=$(ENV)

## Everything CI runs: lint, types, and all tests. The type check runs beside the tests'
## bytecode step (about 25 s each on a fresh clone); its report follows the tests'.
test: setup lint
	@types_log=$$(mktemp); $(BIN)/mypy >$$types_log 2>&1 & types=$$!; \
	echo "$(BIN)/mypy, beside the tests (its report follows theirs)"; \
	$(MAKE) --no-print-directory $(COMPILED); \
	echo "$(BIN)/pytest"; $(BIN)/pytest; tests_status=$$?; \
	wait $$types; types_status=$$?; echo "$(BIN)/mypy:"; cat $$types_log; rm -f $$types_log; \
	exit $$(( tests_status | types_status ))

# A collection that fails leaves no stamp: pytest, next, reports why.
$(COMPILED): $(BIN)/.installed
	@echo "$(BIN)/pytest --collect-only -n 0: the bytecode of what the tests import, once after setup"
	@started=$$(date +%s); $(BIN)/pytest --collect-only -q -n 0 -p no:cacheprovider >/dev/null 2>&1 \
		&& touch $@ && echo "bytecode written in $$(( $$(date +%s) - started ))s" || true

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy

## The benchmark: prints its figures and rewrites docs/benchmark.md (not part of the tests).
bench: setup
	$(BIN)/python bench/benchmark.py

## The JSON Schemas and the config reference (docs/config-reference.md), from the config model.
schema: setup
	$(BIN)/python -m cronguard.config.schema
	$(BIN)/python -m cronguard.config.reference

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache

## Re-pin every transitive dependency after changing requirements*.txt.
constraints:
	rm -rf .constraints-venv && $(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet pip==$(PIP_VERSION)
	.constraints-venv/bin/pip install --quiet -r requirements-dev.txt
	(sed -n '1,2p' constraints.txt; .constraints-venv/bin/pip freeze --exclude-editable) > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .constraints-venv
