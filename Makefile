# Two entry points (see README): `make demo` and `make test`.
# Both create .venv, install the package with its extras and make sure redis-server >= 6.2 is present.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench system-deps clean chaos

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $@

system-deps:
	@sh scripts/ensure-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts typing_tests
	$(BIN)/ruff format --check src tests bench examples scripts typing_tests
	$(BIN)/python scripts/unasync.py --check

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on TEST_WORKERS processes (pytest-xdist), one test file at a time each, so that a file's
# module-scoped topologies start once; much of a failover test is waiting for Sentinel, which overlaps well.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Not part of `make test`: ~10 minutes on 2 cores. BENCH_ARGS=--quick for a smoke run (see bench/README.md).
bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[all,bench]' -r bench/requirements-peers.txt
	$(BIN)/python -m bench.peers $(BENCH_ARGS)

# A long randomized fault campaign (see docs/testing.md); the report goes to $(CHAOS_REPORT).
CHAOS_SECONDS    ?= 600
CHAOS_TOPOLOGY   ?= sentinel
CHAOS_DURABILITY ?= replicated
CHAOS_SEED       ?= $(shell date +%s)
CHAOS_REPORT     ?= chaos-report.txt

chaos: $(STAMP) system-deps
	$(BIN)/hasession chaos --topology $(CHAOS_TOPOLOGY) --durability $(CHAOS_DURABILITY) \
		--seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED) --report $(CHAOS_REPORT)

demo: $(STAMP) system-deps
	$(BIN)/hasession demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
