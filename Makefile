# kyphos — the two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LINTED := src tests $(wildcard benchmarks)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# The main job on the embedded default: the demo registry in ./kyphos-demo (SQLite),
# loaded with the demo cohort and demo accounts (idempotent: a second run changes
# nothing), then served in the browser until Ctrl-C.
DEMO   := env -u KYPHOS_DATABASE_URL -u KYPHOS_SECRET_KEY KYPHOS_HOME=./kyphos-demo $(BIN)/kyphos

run: $(STAMP)
	$(DEMO) init
	$(DEMO) demo
	$(DEMO) audit verify
	$(DEMO) protocol show
	$(DEMO) serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

# PostgreSQL is part of `make test`: the local server of this machine kind by default.
# Override with another URL, or set it empty to skip the PostgreSQL variants locally.
export KYPHOS_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
