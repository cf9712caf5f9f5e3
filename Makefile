# Everything installs into .venv from a fresh clone: only python3 and make are needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest test-newest demo bench soak clean node-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: ruff, import contracts, mypy --strict, then the whole pytest suite (what CI runs)
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check jsonlfn tests examples
	$(BIN)/ruff format --check jsonlfn tests examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict jsonlfn tests/typing

pytest: $(STAMP)
	$(BIN)/pytest -n 4

## make node-tools: Redocly CLI into .ci/node (npm, pinned by its lockfile), for
## tests/test_redocly.py; .ci/run does this when npm is on PATH, else the test skips.
node-tools:
	npm ci --prefix .ci/node --no-audit --no-fund --loglevel=error

## make test-newest: the suite on the newest Python 3.12+ found (pyenv or PATH) with the
## newest Django; prints why and succeeds when no such interpreter exists.
test-newest:
	@py=$$(.ci/newest-python); \
	if [ -z "$$py" ]; then echo "test-newest: no Python 3.12+ found; skipped"; exit 0; fi; \
	$(MAKE) --no-print-directory pytest PYTHON=$$py VENV=.venv-newest

## make demo [PORT=8001] [TOPICS=redis://127.0.0.1:6379/0 WORKERS=2]: serve examples/ on
## http://127.0.0.1:$(PORT) with uvicorn; the chat topic in this process, or in a Redis
PORT ?= 8000
TOPICS ?= memory
WORKERS ?= 1
demo: $(STAMP)
	JSONLFN_TOPICS=$(TOPICS) $(BIN)/uvicorn demo.asgi:application --app-dir examples \
	  --host 127.0.0.1 --port $(PORT) --workers $(WORKERS)

## make bench: the benchmark tables (tests/bench/run.py, and tests/bench/fanout.py for
## scenario F, about 10 minutes more: needs redis-server); by hand.
## Installs the peers (FastAPI, Litestar); uses wrk for scenario B when it is on PATH
## (`apt-get install wrk`), else its own asyncio load generator.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m tests.bench.run
	$(BIN)/python -m tests.bench.fanout
	$(BIN)/python -m tests.bench.idle_memory
	$(BIN)/python -m tests.bench.stream_objects
	$(BIN)/python -m tests.bench.loop

## make soak: 5000 idle streams with pings for 60 s, then 10,000 connect/read/leave
## cycles at concurrency 200, against one uvicorn worker (tests/soak.py); then the
## topics' exactly-once checker on a 300 s schedule of faults drawn from a random seed
## (python -m tests.checker --size soak; SEED=N replays one), which prints how many
## operations and deliveries it checked; by hand.
SEED ?=
soak: $(STAMP)
	$(BIN)/python -m tests.soak
	$(BIN)/python -m tests.checker --size soak $(if $(SEED),--seed $(SEED))

clean:
	rm -rf .venv .venv-newest .pytest_cache .mypy_cache .ruff_cache *.egg-info .ci/node/node_modules
