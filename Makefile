# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the fast test suite); `make test-slow`
# runs the slow checks (minutes each: notebooks run end to end, a fresh student venv), `make test-all` runs both.
# Each creates .venv from requirements.txt when it is missing or older than the requirements files, then installs the
# kit itself into it (`pip install -e .`, no dependencies: requirements.txt pins them).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where `make demo` writes data, answers, submissions and figures (never tracked by git).
DEMO_DIR ?= .cache/demo
# `make test` runs the fast set in two pytest processes (pytest-xdist, whole test files per process, so a module's
# shared fixtures are built once); `make test TEST_JOBS=0` runs it in this one process (times: docs/results.md).
TEST_JOBS ?= 2

.PHONY: demo test test-slow test-all venv clean

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -qq -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -qq --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --disable-pip-version-check -qq --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m kit demo --workdir $(DEMO_DIR)

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m "not slow" -q -n $(TEST_JOBS) --dist loadfile

test-slow: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m slow -q

test-all: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .cache .pytest_cache
