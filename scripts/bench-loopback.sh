#!/usr/bin/env bash
# punktfunk/1 over loopback: latency at 720p60/20 Mbps and the highest bitrate sustained with < 0.1 %
# frame loss (4K120, raw test frames). Starts its own release host; prints a Markdown table.
#   scripts/bench-loopback.sh [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-10}"
cargo build --release -q -p punktfunk-host -p punktfunk-client
cfg="$(mktemp -d)"
out="$(mktemp)"
# --open: the probe is trusted on first use (pairing is not what this measures); its identity lives
# in the temp dir too.
PUNKTFUNK_CONFIG_DIR="$cfg" RUST_LOG=warn target/release/punktfunk-host punktfunk1-host \
  --bind 127.0.0.1 --port 0 --open >"$out" &
host=$!
trap 'kill $host 2>/dev/null; wait $host 2>/dev/null; rm -rf "$cfg" "$out"' EXIT
for _ in $(seq 50); do grep -q READY "$out" && break; sleep 0.1; done
addr="$(sed -n 's/^READY quic=\([^ ]*\) .*/\1/p' "$out")"
fp="$(sed -n 's/.* fingerprint=\([0-9a-f]*\).*/\1/p' "$out")"

run() { # mode kbps
  PUNKTFUNK_CLIENT_DIR="$cfg/client" target/release/punktfunk-probe connect "$addr" --fingerprint "$fp" --mode "$1" \
    --bitrate-kbps "$2" --duration "${secs}s" --json
}
row() { # mode kbps json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
mode, kbps, r = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
total = r["frames_ok"] + r["frames_lost"] + r["integrity_failures"]
lost = 100.0 * (r["frames_lost"] + r["integrity_failures"]) / max(total, 1)
lat = r.get("latency_ms") or {}
nan = float("nan")
print("| %s | %g | %.1f | %.1f | %.2f | %.2f | %.2f | %g |" % (
    mode, kbps / 1000, r["bitrate_mbps"], r["fps"], lost,
    lat.get("p50", nan), lat.get("p99", nan), r["host_bitrate_kbps"] / 1000))
PY
}
echo "| mode | requested Mbps | received Mbps | fps | frames lost % | latency p50 ms | latency p99 ms | host rate at end Mbps |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row 1280x720@60 20000 "$(run 1280x720@60 20000)"
for kbps in 50000 100000 200000 400000 800000 1600000 3200000; do
  row 3840x2160@120 "$kbps" "$(run 3840x2160@120 "$kbps")"
done
