# punktfunk developer entry points. `make` alone lists the targets.
SHELL := bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# Extra arguments for `make run`, e.g. make run ARGS="--gamestream"
ARGS ?=
# Property-test cases per proptest (override: make test PROPTEST_CASES=4096)
PROPTEST_CASES ?= 256
export PROPTEST_CASES
# Seconds per fuzz target for `make fuzz`
FUZZ_SECONDS ?= 60
export FUZZ_SECONDS

# nextest profile from .config/nextest.toml: `ci` when running under CI.
ifneq ($(filter true 1,$(CI)),)
NEXTEST_PROFILE ?= ci
else
NEXTEST_PROFILE ?= default
endif

.PHONY: help setup setup-run build run test lint bench fuzz deb

help: ## list targets
	@echo "punktfunk make targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z]+:.*## / { printf "  %-7s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: ## install build, run-time and test system packages, check Rust, install cargo-nextest
	@bash scripts/setup.sh test

# What running the host needs (build toolchain + run-time programs), none of the test machinery.
setup-run:
	@bash scripts/setup.sh run

build: ## release build of the whole workspace
	$(CARGO) build --release --workspace

run: setup-run ## build and run: punktfunk-host serve $(ARGS)
	$(CARGO) run --release -p punktfunk-host -- serve $(ARGS)

test: setup ## all tests with nextest (PROPTEST_CASES, default 256), then doc tests
	@# End-to-end tests run binaries from other packages (punktfunk-probe); nextest only builds test targets.
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast --profile $(NEXTEST_PROFILE)
	$(CARGO) test --workspace --doc

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

deb: setup-run ## release build, then the Debian package target/debian/punktfunk-host_*.deb
	$(CARGO) build --release -p punktfunk-host -p punktfunk-client --bins
	@bash scripts/build-deb.sh --profile release

bench: ## criterion benchmarks of punktfunk-core
	$(CARGO) bench -p punktfunk-core

fuzz: ## run each fuzz target for FUZZ_SECONDS (default 60) s; needs nightly
	@bash scripts/fuzz.sh
