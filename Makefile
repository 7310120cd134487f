# From a bare Debian/Ubuntu machine to a running engine or a green test suite.
#
#   make up      install what is missing, start PostgreSQL and Redis, migrate, run API + workers
#   make test    the same set-up, then pytest (PYTEST_ARGS="-k wire -x" to narrow it down)
#
# DATABASE_URL / REDIS_URL point the engine at existing servers (scripts/services.sh then leaves
# the local ones alone); with them, set TEST_DATABASE_URL / TEST_REDIS_URL for the tests too.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

TEST_DATABASE_URL ?= postgresql://judge:judge@127.0.0.1:5432/judge_test
export TEST_DATABASE_URL

.PHONY: deps venv services migrate up test lint bench languages

deps:
	@scripts/install-deps.sh deps/debian-core.txt

# Every language's toolchain: languages.yml names the Debian packages (`judge languages
# packages`), then each installed language's self-tests run through the sandbox and print a
# table. `make up` and `make test` install only deps/debian-core.txt, so CI stays fast.
languages: venv
	@$(BIN)/judge languages packages > $(VENV)/language-packages.txt
	@scripts/install-deps.sh deps/debian-core.txt $(VENV)/language-packages.txt
	$(BIN)/judge languages check

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip runs again only when the package metadata changed since the last install.
$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

services:
	@scripts/services.sh

migrate: venv
	$(BIN)/judge migrate

up: deps venv services migrate
	$(BIN)/judge up

test: deps venv services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check $(wildcard judge api workers tests bench)

bench: venv services
	@set -e; for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; \
		$(BIN)/python "$$script"; \
	done
