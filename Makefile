# Carrefour — the two commands: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

PIP    := $(PY) -m pip --disable-pip-version-check
CARREFOUR := $(PY) -m tools.cli

.PHONY: install lock browser-deps up down test test-unit test-e2e reindex bench bench-search soak dlq crawl asyncapi clean

## The virtualenv from the hashed development lock (runtime + `dev` + `test` extras), then the project itself
$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --require-hashes --no-deps -r requirements/dev.lock
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Re-resolve the locks after a change of pyproject.toml: dev.lock (everything `make test` needs) and
## runtime.lock (the image), the latter pinned to the same versions
lock:
	@$(PY) -m uv --version >/dev/null 2>&1 || $(PIP) install -q uv
	$(PY) -m uv pip compile -q pyproject.toml --python-version 3.11.7 --extra dev --extra test --generate-hashes \
	  --custom-compile-command "make lock" -o requirements/dev.lock
	$(PY) -m uv pip compile -q pyproject.toml --python-version 3.11.7 --generate-hashes -c requirements/dev.lock \
	  --custom-compile-command "make lock" -o requirements/runtime.lock

## Start broker + database + the five services + demo sites; gateway on http://127.0.0.1:8000
up: install
	$(PY) -m tools.devstack up

## Stop a stack started by `make up` (from another shell)
down:
	@test -x $(PY) && $(PY) -m tools.devstack down || true

## Debian's chromium for the browser tests (installed when missing; without it `make test` fails)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$CHROMIUM_PATH" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ; } || \
	  { echo "chromium is missing and could not be installed: run 'apt-get install -y chromium' as root, or set CHROMIUM_PATH"; exit 1; }

## Everything: lint (pyflakes errors), unit, integration (embedded broker + database) and end-to-end tests
test: install browser-deps
	$(PY) -m ruff check --no-fix services libs tools tests benchmarks scripts migrations
	$(PY) -m mypy
	$(PY) -m pytest -ra --durations=30

test-unit: install
	$(PY) -m pytest -ra tests/unit

test-e2e: install
	$(PY) -m pytest -ra tests/e2e

## Rebuild the search index from the canonical projects in PostgreSQL
reindex: install
	$(CARREFOUR) reindex

## Crawl now: `make crawl` (every partner) or `make crawl PARTNER=avise`
crawl: install
	$(CARREFOUR) crawl $(if $(PARTNER),--partner $(PARTNER),--all)

## Dead letters: `make dlq` lists them; `make dlq ARGS="replay --id <id>"` replays after a fix
dlq: install
	$(CARREFOUR) dlq $(or $(ARGS),list)

## Regenerate libs/contracts/asyncapi.json from the services' subscribers and publishers
asyncapi: install
	$(CARREFOUR) asyncapi

bench: install
	$(CARREFOUR) bench
	$(PY) -m benchmarks.bench_normalize_geocode
	$(PY) -m benchmarks.bench_crawl
	BENCH_DEDUP_SIZES=40000,1000000 $(PY) -m benchmarks.bench_dedup
	$(PY) -m benchmarks.bench_search
	$(PY) -m benchmarks.bench_fairness

## The hostile-input campaign in full (12,000 inputs; `make test` runs 1,500)
soak: install
	CARREFOUR_CAMPAIGN_SIZE=$(or $(SIZE),12000) $(PY) -m pytest -q -s tests/e2e/test_hostile_campaign.py

bench-search: install
	$(PY) -m benchmarks.bench_search

clean:
	rm -rf .run .pytest_cache
