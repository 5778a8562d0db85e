# The two commands: `make demo` (the engine end to end) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo up test test-serial unit lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# The embedded demo is the one place that may make missing local keys under .state/ (security/keys.py).
# The demo runs in a namespace, database and roster of its own and never touches your nominations
# (docs/operations.md).
demo: install  ## dev server + worker + sample nominations through every route; prints outcomes; exits
	TDKT_GENERATE_KEYS=1 $(PY) -m scripts.demo

# Ctrl-C, or SIGTERM to make or to the demo, stops the dev server and the workers it started (scripts/demo.py).
up: install  ## the same, then keeps the dev server (UI on :8233), the demo's worker and one for your work running
	TDKT_GENERATE_KEYS=1 $(PY) -m scripts.demo --keep

# Two processes (pytest-xdist), each with its own dev server, database and counting keys; a file's tests stay
# together, and so do the files sharing something fixed on the machine (SHARED_GROUPS in tests/conftest.py).
# A test that hangs is ended by pytest-timeout (pyproject.toml) with the stacks printed. `make test-serial`: one.
test: install  ## unit, integration (real dev server + PostgreSQL) and replay tests
	$(PY) -m pytest -q -n 2 --dist loadfile --max-worker-restart 0

test-serial: install  ## the same in one process
	$(PY) -m pytest -q -p no:xdist

unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy .

clean:
	rm -rf .state

.PHONY: chaos
chaos: install  ## faults during a wave (kills the worker, restarts the dev server, stops PostgreSQL 30 s, stops SMTP)
	TDKT_CHAOS=1 $(PY) -m pytest -q -s tests/chaos

.PHONY: bench
bench: install  ## year-end wave: 1000 nominations against the raw Temporal floor, same run; last line key=value
	TDKT_GENERATE_KEYS=1 $(PY) -m bench.wave --nominations 1000 --voters 9 --workers 2

.PHONY: fuzz-api
fuzz-api: install  ## schemathesis over the whole OpenAPI (10,000+ cases): no 5xx, every status documented
	TDKT_FUZZ_EXAMPLES=240 TDKT_FUZZ_PHASES=examples,coverage,fuzzing,stateful $(PY) -m pytest -q -s tests/integration/test_api_fuzz.py
