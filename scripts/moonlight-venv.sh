#!/usr/bin/env bash
# Creates target/moonlight-venv with moonlight-python (the real moonlight-common-c behind a Python
# API), the Moonlight client the GameStream tests drive (crates/punktfunk-e2e/tests/gamestream_e2e.rs).
# Test-only: it is never shipped. Idempotent: when the venv already holds the pinned version it
# touches no network and takes a fraction of a second. Prints the venv's python path on stdout.
set -euo pipefail

VERSION=0.3.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Inside the shared target dir so `cargo clean` removes it too; CARGO_TARGET_DIR moves it along.
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/moonlight-venv
python=$venv/bin/python

say() { printf 'moonlight-venv: %s\n' "$*" >&2; }
die() { printf 'moonlight-venv: error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 not found: run scripts/setup.sh"

# One installer at a time: two test processes starting together must not both run pip.
mkdir -p "$target"
exec 9>"$target/.moonlight-venv.lock"
flock 9

installed() {
    [[ -x "$python" ]] &&
        "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('moonlight-python') != '$VERSION')" 2>/dev/null &&
        "$python" -c "import moonlight_python" 2>/dev/null
}

if ! installed; then
    if [[ ! -x "$python" ]]; then
        say "creating $venv"
        python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv (scripts/setup.sh)"
    fi
    say "installing moonlight-python==$VERSION"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moonlight-python==$VERSION" >&2
    installed || die "moonlight-python $VERSION did not import after installing"
fi

printf '%s\n' "$python"
