#!/usr/bin/env bash
# Run every cargo-fuzz target under fuzz/ for FUZZ_SECONDS seconds each (default 60).
# Needs a nightly toolchain; installs cargo-fuzz if it is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}

say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 1; }

[[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a whole number of seconds, got '$FUZZ_SECONDS'"

if [[ ! -f fuzz/Cargo.toml ]]; then
    say "no fuzz/Cargo.toml yet; nothing to fuzz"
    exit 0
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    die "a nightly toolchain is needed: rustup toolchain install nightly"
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

cd fuzz
targets=$(cargo +nightly fuzz list) || die "'cargo +nightly fuzz list' failed in fuzz/"
if [[ -z "$targets" ]]; then
    say "fuzz/ has no targets; nothing to fuzz"
    exit 0
fi

failed=()
for target in $targets; do
    say "running $target for ${FUZZ_SECONDS}s"
    if ! cargo +nightly fuzz run "$target" -- -max_total_time="$FUZZ_SECONDS"; then
        failed+=("$target")
    fi
done

if ((${#failed[@]} > 0)); then
    die "failing targets: ${failed[*]} (crash inputs are in fuzz/artifacts/)"
fi
say "all targets ran ${FUZZ_SECONDS}s without a crash: $(echo $targets)"
