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

.PHONY: deps venv services migrate up test lint bench languages podman playground compose-test \
	vm-test vm-ci

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

# The web playground served at / (playground/ bundled into api/playground/static, git-ignored):
# npm ci + esbuild, run again only when the lock file or a source changed.
PLAYGROUND_STAMP := api/playground/static/.built

playground: $(PLAYGROUND_STAMP)

$(PLAYGROUND_STAMP): playground/package-lock.json playground/build.mjs playground/index.html \
		playground/style.css $(wildcard playground/src/*.js) | deps
	@command -v npm >/dev/null || scripts/install-deps.sh playground/debian-packages.txt
	cd playground && npm ci --ignore-scripts --no-audit --no-fund && npm run --silent build
	@touch $@

migrate: venv
	$(BIN)/judge migrate

up: deps venv services migrate playground
	$(BIN)/judge up

test: deps venv services playground
	@scripts/install-deps.sh deps/debian-test.txt
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check $(wildcard judge api workers tests bench deploy)

# Every figure of docs/performance.md, next to bare execution on this machine.
# bench/load.py (10,000 submissions at a fixed rate) is left out: run it on its own.
BENCHES ?= sandbox e2e throughput api compile_cache profile

bench: deps venv services migrate
	@scripts/install-deps.sh deps/bench.txt
	@$(BIN)/python -m pip install -q -e '.[bench]'
	@set -e; for name in $(BENCHES); do \
		echo "== bench/$$name.py"; \
		$(BIN)/python "bench/$$name.py"; \
	done

# A Docker-compatible engine (rootful Podman's REST socket at /run/judge-podman/podman.sock)
# and a local base image, for SANDBOX_BACKEND=docker and tests/docker_backend (skipped
# without it). Not part of `make test`: it installs podman and builds an image.
podman:
	@scripts/podman-service.sh

# The container deployment, for real, on this host: a debootstrap base image, the engine image
# (Dockerfile), compose.yaml under podman-compose, real submissions, three workers, teardown.
# Slow (minutes), so not part of `make test`. LANGUAGES=all builds every toolchain,
# BASE_SUITE=trixie builds on Debian 13; `make vm-test` runs it on Docker Engine.
compose-test:
	scripts/compose-test.sh

# The engine on real systemd + cgroup v2 hosts: Debian 12 (kernel 6.1) and Debian 13 (kernel
# 6.12) guests under QEMU (TCG where /dev/kvm cannot run them), this working tree synced in,
# the sandbox and e2e tests and the delegation checks in each, and on Debian 13 the compose
# stack on Docker Engine (vm/README.md). Images are cached in VM_DIR (default
# /var/tmp/judge-vm); VM_SUITES="bookworm trixie" picks the guests. Slow (about an hour and a
# half under TCG), so not part of `make test`.
vm-test:
	@scripts/install-deps.sh deps/vm-lab.txt
	vm/vm-test.sh

# The lane CI runs (.ci/run): a Debian 13 guest, the sandbox suite and `judge run`'s verdicts,
# a networked run among them, each followed by the check that the host's mounts survived.
vm-ci:
	@scripts/install-deps.sh deps/vm-lab.txt
	VM_SUITES=trixie VM_STEPS=info,judge-run,sandbox VM_GUEST_TIMEOUT=1800 vm/vm-test.sh
