#!/usr/bin/env bash
# The browser client against the native probe on the same host, mode and content: the release host
# (`serve` on its private headless sway, temp config and stores) streams moving content (ffplay
# testsrc2 full screen, a desktop-entry "game" launched onto each client's own display) at
# 1280×720@60 and 20 Mbit/s, first to headless Chromium playing the host's own page
# (tests/browser/play.mjs: WebTransport + WebCodecs), then to punktfunk-probe (UDP data plane,
# FFmpeg decode). Prints a Markdown table (fps decoded, capture → decoded p50/p95, frames missing);
# --json FILE writes the rows as JSON too.
#   scripts/bench-browser.sh [--quick] [--json FILE]
# NO_BUILD=1 skips `cargo build` (uses target/release); KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
caller_pwd="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/bench-args.sh
parse_bench_args "$@"
secs=15
((quick)) && secs=6
mode=1280x720@60
say() { printf 'bench-browser: %s\n' "$*" >&2; }

start_bench_serve 1280x720 'WEBTRANSPORT '
chromium="$(bash scripts/browser-test-setup.sh | sed -n 's/^CHROMIUM=//p')"
api="$(sed -n 's|^API https://\(.*\)$|\1|p' "$work/host.out")"
quic="$(sed -n 's/^READY quic=\([^ ]*\) .*/\1/p' "$work/host.out")"
token="$(cat "$work/config/admin-token")"
api_call() { curl -sk -H "Authorization: Bearer $token" -X "$1" "https://$api/api/v1$2" "${@:3}"; }
sessions() { sed -n 's/^SESSIONS \([0-9]*\)$/\1/p' "$work/host.out" | tail -1; }

say "browser: $mode for $secs s"
# The page streams; once its session is listed, the moving content goes onto its display.
(
  for _ in $(seq 200); do
    id="$(api_call GET /sessions | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s[0]["id"] if s else "")')"
    [[ -n "$id" ]] && break
    sleep 0.1
  done
  api_call POST "/sessions/$id/launch" -H 'Content-Type: application/json' \
    -d '{"title_id": "desktop:moving"}' >/dev/null
) &
launcher=$!
# Measure once the content moves: the page's window starts after its STREAMING line, so give the
# launch a head start by streaming a little longer and counting only the page's own window.
(cd tests/browser && PF_CONSOLE_URL="https://$api/" PF_ADMIN_TOKEN="$token" PF_CHROMIUM="$chromium" \
  PF_ARTIFACTS="$work" PF_MODE="$mode" PF_SECONDS="$secs" node play.mjs </dev/null \
  >"$work/browser.out" 2>>"$work/browser.log") || { tail -20 "$work/browser.log" >&2; exit 1; }
wait "$launcher" || true
for _ in $(seq 100); do [[ "$(sessions)" == 0 ]] && break; sleep 0.1; done

say "probe: $mode for $secs s"
PUNKTFUNK_CLIENT_DIR="$work/client" "$bin/punktfunk-probe" connect "$quic" --tofu --mode "$mode" \
  --duration "${secs}s" --codec h264 --no-stamps --bitrate-kbps 20000 --name bench-browser \
  --launch desktop:moving --json >"$work/probe.json" 2>>"$work/probe.log"

python3 - "$work/browser.out" "$work/probe.json" "$json_out" "$(nproc)" "$(uptime)" <<'EOF'
import json, sys
browser_out, probe_path, json_out, cores, load = sys.argv[1:6]
page = json.loads([l for l in open(browser_out) if l.startswith("{")][-1])
probe = json.load(open(probe_path))
lat = probe.get("latency_ms") or {}
rows = [
    {"client": "browser (WebTransport streams, WebCodecs)", "fps": round(page["fps"], 1),
     "latency_p50_ms": page["latencyP50Ms"], "latency_p95_ms": page["latencyP95Ms"],
     "frames_missing": page["framesSkipped"] + page["numberGaps"]},
    {"client": "punktfunk-probe (UDP data plane, FFmpeg)", "fps": round(probe["fps"], 1),
     "latency_p50_ms": lat.get("p50"), "latency_p95_ms": lat.get("p95"),
     "frames_missing": probe["frames_lost"]},
]
print(f"1280x720@60, 20 Mbit/s, moving testsrc2 on each client's own display, loopback; {cores} cores; {load.strip()}")
print()
print("| client | fps decoded | capture → decoded p50 / p95 (ms) | frames missing |")
print("|---|---:|---:|---:|")
f = lambda v: "–" if v is None else f"{v:.1f}"
for r in rows:
    print(f'| {r["client"]} | {r["fps"]} | {f(r["latency_p50_ms"])} / {f(r["latency_p95_ms"])} | {r["frames_missing"]} |')
if json_out:
    json.dump(rows, open(json_out, "w"), indent=1)
EOF
