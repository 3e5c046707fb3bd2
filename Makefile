# EduGov control plane. On a fresh Debian 12 machine, as root:
#   make run    set everything up, start the control plane, bring the lab to a working network
#   make test   set everything up, then run the whole test suite
# Set-up (system tools, restic, .venv) lives in scripts/setup.sh and is
# idempotent: a second `make setup` takes about a second.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := .venv/bin
PYTEST_ARGS ?=

.PHONY: help setup run test bench lint clean

help:
	@echo "make setup   system tools (apt, as root), restic >= 0.17 in tools/bin, .venv"
	@echo "make run     setup, egov init (when no ./egov.yml), egov lab up (root), egov serve, egov bootstrap"
	@echo "make test    setup, then the whole suite with pytest (lab tests when root)"
	@echo "make bench   setup, then every tests/bench/bench_*.py in turn"
	@echo "make lint    setup, then ruff check ."
	@echo "make clean   egov lab down (root), then remove the state in var/"

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	@shopt -s nullglob; benches=(tests/bench/bench_*.py); \
	if (( $${#benches[@]} == 0 )); then echo "==> no benchmarks in tests/bench"; exit 0; fi; \
	for bench in "$${benches[@]}"; do echo "==> $$bench"; $(BIN)/python "$$bench"; done

lint: setup
	$(BIN)/ruff check .

# The lab's namespaces, mounts and sshd processes live outside var/: take the
# lab down first (only root can have brought it up), and keep var/ if that fails.
clean:
	@if [[ $$(id -u) -eq 0 && -x $(BIN)/egov && -f egov.yml ]]; then \
		echo "==> egov lab down"; $(BIN)/egov lab down; \
	fi
	@echo "==> removing var/"
	@rm -rf var
