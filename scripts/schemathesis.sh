#!/usr/bin/env bash
# Property-based fuzzing of the management API with schemathesis (PyPI), against the checked-in
# OpenAPI document: every operation is called with generated inputs and no answer may be a 5xx.
#
#   scripts/schemathesis.sh https://127.0.0.1:PORT ADMIN_TOKEN [extra `st run` arguments]
#
# schemathesis lives in a venv inside the target dir (pinned version; created on first use, reused
# afterwards without touching the network). Used by crates/punktfunk-e2e/tests/api_schemathesis.rs.
set -euo pipefail

VERSION=4.32.5
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/schemathesis-venv

say() { printf 'schemathesis: %s\n' "$*" >&2; }
die() { printf 'schemathesis: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: $0 BASE_URL ADMIN_TOKEN [st run args…]"
base=$1
token=$2
shift 2

command -v python3 >/dev/null 2>&1 || die "python3 not found: run scripts/setup.sh"
mkdir -p "$target"
# Two test processes must not run pip into the same venv at once.
exec 9>"$target/.schemathesis-venv.lock"
flock 9
have() {
    [[ -x "$venv/bin/st" ]] &&
        "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$VERSION')" 2>/dev/null
}
if ! have; then
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv"
    say "installing schemathesis==$VERSION into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
    have || die "schemathesis $VERSION is not usable after installing"
fi
flock -u 9

# The event stream never ends, so it cannot be fuzzed request by request; its auth is covered by
# api_auth.rs. The host's certificate is self-signed: the test pins it elsewhere, here it is skipped.
exec "$venv/bin/st" run "$root/api/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --tls-verify false \
    --checks not_a_server_error \
    --exclude-path /api/v1/events \
    --generation-database none \
    --no-color \
    "$@"
