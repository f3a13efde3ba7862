#!/usr/bin/env bash
# Each colour format through the host's whole frame path: the release host (`serve` on its private
# headless sway, temp config and stores) streams moving content (ffplay testsrc2 full screen, a
# desktop-entry "game" the probe launches on its own display) at 20 Mbit/s to punktfunk-probe, once
# per codec and colour format (H.264 8-bit 4:2:0 and 4:4:4; HEVC 8-bit 4:2:0, 10-bit 4:2:0, 8-bit
# 4:4:4 and 10-bit 4:4:4) at 1280×720@60 and 1920×1080@60.
# Prints a Markdown table (fps received, the host's own latency and encode time from its `video
# stream stages` log line, capture → frame complete on the client p50/p95, frames lost, the format
# the decoder saw); --json FILE writes the rows as JSON too.
#   scripts/bench-colour.sh [--quick] [--json FILE]
# NO_BUILD=1 skips `cargo build` (uses target/release); KEEP_WORK=1 keeps the temp dir (host log,
# every probe report).
set -euo pipefail
caller_pwd="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/bench-args.sh
parse_bench_args "$@"
secs=10
((quick)) && secs=4
kbps=20000
say() { printf 'bench-colour: %s\n' "$*" >&2; }

# The moving content: a desktop entry the probe launches onto its own display.
start_bench_serve 1920x1080 'API https://'
addr="$(sed -n 's/^READY quic=\([^ ]*\) .*/\1/p' "$work/host.out")"
[[ -n "$addr" ]] || { say "the host printed no READY line"; exit 1; }

sessions() { sed -n 's/^SESSIONS \([0-9]*\)$/\1/p' "$work/host.out" | tail -1; }
rows="$work/rows.jsonl"
: >"$rows"
for mode in 1280x720@60 1920x1080@60; do
  for case in h264:420 h264:444 hevc:420 hevc:10bit hevc:444 hevc:444,10bit; do
    codec="${case%%:*}" colour="${case#*:}"
    ask="$colour"
    [[ "$colour" == 420 ]] && ask=""
    say "$mode, $codec $colour: ${secs} s"
    report="$work/probe-$mode-$codec-$colour.json"
    log_from="$(stat -c %s "$work/host.log")"
    PUNKTFUNK_CLIENT_DIR="$work/client" "$bin/punktfunk-probe" connect "$addr" --tofu --mode "$mode" \
      --duration "${secs}s" --codec "$codec" --no-stamps --bitrate-kbps "$kbps" --name bench-colour \
      --launch desktop:moving --color "$ask" --json >"$report" 2>>"$work/probe.log" || true
    # One session after the other: wait for the host to release this one (its stage line is
    # logged when the stream ends).
    for _ in $(seq 100); do [[ "$(sessions)" == 0 ]] && break; sleep 0.1; done
    python3 - "$mode" "$codec" "$colour" "$report" "$work/host.log" "$log_from" >>"$rows" <<'EOF'
import json, sys
mode, codec, colour, path, log, log_from = sys.argv[1:7]
host = {}
with open(log, "rb") as f:
    f.seek(int(log_from))
    for line in f.read().decode(errors="replace").splitlines():
        if "video stream stages" in line:
            host = dict(t.split("=", 1) for t in line.split() if "=" in t)
num = lambda k: round(float(host[k].strip('"')), 1) if k in host else None
try:
    r = json.load(open(path))
except (OSError, ValueError) as e:
    print(json.dumps({"mode": mode, "codec": codec, "colour": colour, "error": str(e)}))
    sys.exit(0)
lat = r.get("latency_ms") or {}
fmt = r.get("video_format") or {}
print(json.dumps({
    "mode": mode, "codec": codec, "colour": colour, "fps": round(r["fps"], 1),
    "latency_p50_ms": lat.get("p50"), "latency_p95_ms": lat.get("p95"),
    "frames_ok": r["frames_ok"], "frames_lost": r["frames_lost"],
    "bitrate_mbps": round(r["bitrate_mbps"], 2),
    "decoded": f'{fmt.get("pixel_format", "?")} {fmt.get("primaries", "?")}',
    "color_format": r.get("color_format"),
    "host_latency_p50_ms": num("host_latency_p50_ms"), "host_latency_p95_ms": num("host_latency_p95_ms"),
    "encode_ms": num("encode_ms"),
}))
EOF
  done
done

python3 - "$rows" "$json_out" "$(nproc)" "$(uptime)" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"20 Mbit/s, moving testsrc2, punktfunk/1 to punktfunk-probe on loopback; {sys.argv[3]} cores; {sys.argv[4].strip()}")
print()
print("| mode | codec | colour | fps | host latency p50 / p95 (ms) | encode (ms) | capture → complete p50 / p95 (ms) | frames lost | Mbit/s | decoded |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
pair = lambda a, b: f"{a:.1f} / {b:.1f}" if a is not None and b is not None else "–"
for r in rows:
    if "error" in r:
        print(f'| {r["mode"]} | {r["codec"]} | {r["colour"]} | – | – | – | – | – | – | failed: {r["error"]} |')
        continue
    host = pair(r["host_latency_p50_ms"], r["host_latency_p95_ms"])
    client = pair(r["latency_p50_ms"], r["latency_p95_ms"])
    enc = r["encode_ms"] if r["encode_ms"] is not None else "–"
    print(f'| {r["mode"]} | {r["codec"]} | {r["colour"]} | {r["fps"]} | {host} | {enc} | {client} | {r["frames_lost"]} | {r["bitrate_mbps"]} | {r["decoded"]} |')
if sys.argv[2]:
    json.dump(rows, open(sys.argv[2], "w"), indent=1)
EOF
