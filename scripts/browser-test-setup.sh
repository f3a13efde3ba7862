#!/usr/bin/env bash
# Prepares the web console's browser test (crates/punktfunk-e2e/tests/console_browser.rs): checks
# for Debian's chromium (scripts/setup.sh installs it) and Node.js, and installs the npm packages
# pinned by tests/browser/package-lock.json (playwright-core, axe-core) into
# tests/browser/node_modules. Idempotent: when the installed modules match the lockfile it touches
# no network and takes milliseconds.
# Prints `CHROMIUM=<path>` on success (the test reads it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/tests/browser
MIN_NODE_MAJOR=20

say() { printf 'browser-test-setup: %s\n' "$*" >&2; }
die() { printf 'browser-test-setup: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

chromium=${PF_CHROMIUM:-}
if [[ -z "$chromium" ]]; then
    for candidate in chromium chromium-browser; do
        if have "$candidate"; then
            chromium=$(command -v "$candidate")
            break
        fi
    done
fi
[[ -n "$chromium" && -x "$chromium" ]] ||
    die "chromium not found: run scripts/setup.sh (it installs Debian's chromium package), or set PF_CHROMIUM"

have node || die "node not found: run scripts/setup.sh (Debian package nodejs; Node.js >= $MIN_NODE_MAJOR)"
have npm || die "npm not found: install Node.js >= $MIN_NODE_MAJOR with npm (Debian: apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= MIN_NODE_MAJOR)) || die "Node.js $(node --version) is too old; playwright-core needs >= $MIN_NODE_MAJOR"

# One installer at a time: two test runs starting together must not interleave `npm ci`.
mkdir -p "$root/target"
exec 9>"$root/target/.browser-test-setup.lock"
flock 9

stamp=$dir/node_modules/.punktfunk-lock.sha256
want=$(sha256sum "$dir/package-lock.json" "$dir/package.json" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/node_modules/playwright-core/package.json" ]]; then
    say "npm packages present (node_modules matches the lockfile)"
else
    say "installing the npm packages of tests/browser/package-lock.json (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >&2)
    printf '%s\n' "$want" >"$stamp"
fi

say "ready: $("$chromium" --version 2>/dev/null || echo "$chromium"), node $(node --version)"
printf 'CHROMIUM=%s\n' "$chromium"
