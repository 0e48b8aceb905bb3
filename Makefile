# truyvet — every target here is in README.md's table of make targets (tests/unit/test_makefile.py).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# gcc and libssl-dev build the tracer's ids module (services/tracer/domain/_uuid5.c);
# prometheus (with promtool) is the local stack's metrics store and checks its rules.
# nodejs and npm run the spec checkers of tools/specs (the AsyncAPI parser, Redocly's linter).
APT_PACKAGES := clickhouse-server clickhouse-client chromium gcc libssl-dev prometheus
SPEC_TOOLS := tools/specs/node_modules/.installed

.PHONY: setup system-deps venv spec-tools up down status demo test test-unit test-integration \
        test-brokers lint schemas \
        bench-ingest bench-tracer bench-alerts soak clean

## setup: everything a fresh Debian 12 machine needs (apt, pip into .venv, Kafka jars via Maven)
setup: system-deps venv spec-tools
	$(BIN)/truyvet fetch

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing Node.js and npm"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing a JDK 17 and Maven"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml services/tracer/domain/_uuid5.c
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## spec-tools: the npm packages pinned in tools/specs/package-lock.json (the tests run them)
spec-tools: $(SPEC_TOOLS)

$(SPEC_TOOLS): tools/specs/package.json tools/specs/package-lock.json
	npm ci --prefix tools/specs --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

## up / down / status: the local stack (Kafka, ClickHouse, ingest, tracer, alerts)
up: setup
	$(BIN)/truyvet up

down:
	$(BIN)/truyvet down

status:
	$(BIN)/truyvet status

## demo: README command one — the stack and a synthetic city
demo: setup
	$(BIN)/truyvet up
	$(BIN)/truyvet demo

## test: README command two — lint, then every test against a real Kafka and ClickHouse
test: setup lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=20

## test-unit: pure tests and the docstring examples of the code, nothing started

test-unit: venv spec-tools
	$(BIN)/pytest tests/unit schemas services truyvet

test-integration: setup
	$(BIN)/pytest tests/integration tests/e2e

## test-brokers: a broker of a three-broker Kafka killed mid-stream (minutes; not in `make test`)
test-brokers: setup
	$(BIN)/pytest -m brokers tests/reliability/test_broker_loss.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(PY) -m schemas.export --check

schemas: venv
	$(PY) -m schemas.export

## benchmarks: figures and ratios, never pass/fail
bench-ingest: setup
	$(PY) -m bench.ingest

bench-tracer: setup
	$(PY) -m bench.tracer
	$(PY) -m bench.tracer_window

bench-alerts: setup
	$(PY) -m bench.alerts

soak: setup
	$(PY) -m bench.soak

clean: down
	rm -rf .truyvet .truyvet-test
