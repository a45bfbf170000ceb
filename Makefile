# twinlens — the two commands a newcomer runs: `make run` and `make test`.
# Everything they need (Debian packages, the venv, pip and npm packages) is installed here.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SDK := rum_gateway/sdk
PYTEST_ARGS ?=
# Debian packages the tests drive for real; installed when missing and we are root with apt.
SYSTEM_PACKAGES := prometheus prometheus-alertmanager prometheus-blackbox-exporter chromium wrk
SYSTEM_TOOLS := prometheus promtool prometheus-alertmanager prometheus-blackbox-exporter chromium wrk

.DEFAULT_GOAL := help
.PHONY: help run test test-quick lint fmt unit integration e2e sdk sdk-test sysdeps venv bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml setup.py rum_gateway/_ingest.pyx  # pip builds the compiled ingest path
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed  ## create .venv, install twinlens with its dev tools, compile rum_gateway/_ingest.pyx

sysdeps:  ## install the Debian packages the tests use (as root, when missing)
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	  else echo "warning: missing$$missing and cannot apt-get install them (not root?)"; fi; \
	fi

$(SDK)/node_modules/.package-lock.json: $(SDK)/package-lock.json
	cd $(SDK) && npm ci --no-audit --no-fund --loglevel=error

sdk: $(SDK)/node_modules/.package-lock.json  ## build the browser SDK bundle (esbuild)
	cd $(SDK) && npm run --silent build

sdk-test: sdk  ## the SDK's own unit tests and bundle-size budget (node --test)
	cd $(SDK) && npm test --silent

K8S_VALIDATE := tests/k8s
$(K8S_VALIDATE)/node_modules/.package-lock.json: $(K8S_VALIDATE)/package-lock.json
	cd $(K8S_VALIDATE) && npm ci --no-audit --no-fund --loglevel=error

test-node-deps: $(K8S_VALIDATE)/node_modules/.package-lock.json  # schema validators for deploy/

lint: venv  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: venv  ## unit tests only
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test-quick: lint unit sdk-test  ## the inner loop: lint, unit tests, SDK tests

integration: venv sdk test-node-deps  ## tests against real local servers
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

e2e: venv sdk sysdeps  ## tests with real Prometheus, Alertmanager, Chromium
	$(BIN)/pytest -q tests/e2e $(PYTEST_ARGS)

test: sysdeps venv sdk test-node-deps lint sdk-test  ## everything: lint, SDK tests, unit, integration and e2e
	$(BIN)/pytest -q -rs -n 2 --dist loadgroup tests $(PYTEST_ARGS)

run: venv sdk  ## run the whole system live on loopback (Ctrl-C stops it)
	$(BIN)/twinlens demo

bench: venv sysdeps  ## the benchmarks in bench/ (side by side with the peers)
	@for b in bench/*/run.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv, node_modules and build output
	rm -rf $(VENV) $(SDK)/node_modules $(SDK)/dist .pytest_cache .mypy_cache .ruff_cache
