# Carrefour — the two commands: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install browser-deps up down test test-unit test-e2e reindex bench bench-search soak dlq crawl clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

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
	$(PY) -m ruff check --select F,E9 --no-fix services libs tools tests benchmarks scripts migrations
	$(PY) -m pytest -ra --durations=30

test-unit: install
	$(PY) -m pytest -ra tests/unit

test-e2e: install
	$(PY) -m pytest -ra tests/e2e

## Rebuild the search index from the canonical projects in PostgreSQL
reindex: install
	$(PY) -m services.indexer.reindex

## Crawl now: `make crawl` (every partner) or `make crawl PARTNER=avise`
crawl: install
	$(PY) -m services.crawler.cli crawl $(if $(PARTNER),--partner $(PARTNER),--all)

## Dead letters: `make dlq` lists them; `make dlq ARGS="replay --id <id>"` replays after a fix
dlq: install
	$(PY) -m tools.dlq $(or $(ARGS),list)

bench: install
	$(PY) -m benchmarks.run
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
