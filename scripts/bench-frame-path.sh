#!/usr/bin/env bash
# The host's whole frame path, measured against issue #14's targets in one run: the real release host
# (`serve` with GameStream and punktfunk/1 on its private headless sway, temp config dir) streaming
# moving content (ffplay testsrc2 full screen on the client's own display) as H.264 at 20 Mbit/s to
# moonlight-python (moonlight-common-c) and to punktfunk-probe, next to x264 alone at the same modes
# (encode_bench: colour conversion included) as the reference. Prints Markdown tables; --json FILE
# writes the results as JSON too.
#   scripts/bench-frame-path.sh [--quick] [--json FILE]
# NO_BUILD=1 skips `cargo build` (uses what target/release holds); KEEP_WORK=1 keeps the temp dir (host
# log, every client's report).
#
# Conditions: 1920×1080@60 and 1280×720@60 to Moonlight and to the probe; 4 concurrent 1280×720@30
# probe sessions (GameStream serves one stream at a time); connect → first frame for 5 sequential
# sessions of each client; host RSS (/proc/PID/status) sampled every 200 ms.
# Moving content for punktfunk/1: the probe cannot launch an app, so `bench-frame-path.py content`
# starts ffplay on every output the host creates (and pauses it while the output is parked). A short
# priming session at the same mode runs first, so the measured session reuses an output whose ffplay
# is already running (resumed within ≈ 50 ms of the session's start).
set -euo pipefail
caller_pwd="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/bench-args.sh
parse_bench_args "$@"
if ((quick)); then
  secs=3 warmup=1 prime=2 prime4=5 seq_secs=1 x264_frames=60
else
  secs=10 warmup=2 prime=3 prime4=6 seq_secs=2 x264_frames=240
fi
kbps=20000

say() { printf 'bench-frame-path: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

# One cargo invocation for all three: building encode_bench on its own resolves punktfunk-media's
# features differently and so rebuilds the host on the next invocation. NO_BUILD=1 skips the build.
if [[ -z "${NO_BUILD:-}" ]]; then
  say "building (release)"
  cargo build --release -q -p punktfunk-host -p punktfunk-client -p punktfunk-media --bins --example encode_bench
fi
python="$(scripts/moonlight-venv.sh)"
helper=scripts/bench-frame-path.py
# BIN_DIR=DIR runs binaries from elsewhere (e.g. an older build, for a before/after in one sitting).
bin="${BIN_DIR:-target/release}"

work="$(mktemp -d /tmp/punktfunk-bench-frame-path-XXXXXX)"
results="$work/results.jsonl"
: >"$results"
host="" sampler="" content=""
cleanup() {
  set +e
  [[ -n "$content" ]] && kill -TERM "$content" 2>/dev/null && wait "$content" 2>/dev/null
  [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
  stop_bench_host "$host"
  if [[ -n "${KEEP_WORK:-}" ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
uptime_before="$(uptime)"
say "load before: $uptime_before"

# --- x264 alone, the reference: the live encoder configuration, BGRx in, colour conversion included.
for wh in 1920x1080 1280x720; do
  w="${wh%x*}" h="${wh#*x}"
  say "x264 alone at ${wh}@60, $x264_frames frames"
  raw="$work/pattern.bgrx"
  "$bin/examples/encode_bench" --write-raw "$raw" --frames "$x264_frames" --width "$w" --height "$h" --fps 60 >/dev/null
  cat "$raw" >/dev/null
  "$bin/examples/encode_bench" --raw "$raw" --frames "$x264_frames" --width "$w" --height "$h" --fps 60 --kbps "$kbps" |
    grep '^RESULT' >"$work/x264-$wh.txt"
  rm -f "$raw"
  python3 "$helper" row --kind x264 --mode "$wh" "$work/x264-$wh.txt" >>"$results"
done

# --- the host
cfg="$work/config"
mkdir -p "$cfg"
cat >"$cfg/config.toml" <<EOF
[[apps]]
name = "Pattern1920x1080"
cmd = "exec ffplay -loglevel error -an -fs -f lavfi -i testsrc2=size=1920x1080:rate=60"
env = { SDL_VIDEODRIVER = "wayland" }

[[apps]]
name = "Pattern1280x720"
cmd = "exec ffplay -loglevel error -an -fs -f lavfi -i testsrc2=size=1280x720:rate=60"
env = { SDL_VIDEODRIVER = "wayland" }
EOF
base="$(python3 "$helper" free-port-base)"
log="$work/host.log"
say "starting the host (GameStream base port $base)"
PUNKTFUNK_CONFIG_DIR="$cfg" RUST_LOG=info \
  "$bin/punktfunk-host" serve --compositor headless --bind 127.0.0.1 --port 0 --api-bind 127.0.0.1 --api-port 0 \
  --no-mdns --open --gamestream --gamestream-port-base "$base" >"$work/host.out" 2>"$log" &
host=$!
for _ in $(seq 300); do grep -q '^API https://' "$work/host.out" && break; kill -0 "$host" || break; sleep 0.1; done
grep -q '^API https://' "$work/host.out" || { tail -20 "$log" >&2; say "the host did not start"; exit 1; }
addr="$(sed -n 's/^READY quic=\([^ ]*\) .*/\1/p' "$work/host.out")"
fp="$(sed -n 's/^READY .* fingerprint=\([0-9a-f]*\).*/\1/p' "$work/host.out")"
api_port="$(sed -n 's/^API https:\/\/.*:\([0-9]*\).*/\1/p' "$work/host.out")"
sway_dir="$(sed -n 's/.*started a private headless sway .* dir=\([^ ]*\).*/\1/p' "$log" | head -1)"
[[ -n "$sway_dir" ]] || { say "no private headless sway in the host log"; exit 1; }
while kill -0 "$host" 2>/dev/null; do
  echo "$(now_ms) $(awk '/^VmRSS/ {print $2}' "/proc/$host/status" 2>/dev/null)"
  sleep 0.2
done >"$work/rss" 2>/dev/null &
sampler=$!

# row KIND CLIENT MODE T0 LOG_OFFSET FILES...: one result row from the files of a condition. The RSS
# baseline is the last sample before $rss_base (the condition's priming session) or before T0.
rss_base=0
row() {
  local kind="$1" client="$2" mode="$3" t0="$4" from="$5"
  shift 5
  python3 "$helper" row --kind "$kind" --client "$client" --mode "$mode" --log "$log" --log-from "$from" \
    --rss "$work/rss" --rss-base "$rss_base" --t0 "$t0" --t1 "$(now_ms)" "$@" >>"$results"
  rss_base=0
}
log_size() { stat -c %s "$log"; }
# settle PATTERN COUNT FROM: waits (≤ 3 s) until the host has logged COUNT lines matching PATTERN after
# byte FROM — a session logs its stage times as it closes, which can be just after its client exits.
settle() {
  for _ in $(seq 30); do
    (($(tail -c "+$(($3 + 1))" "$log" | grep -c "$1" || true) >= $2)) && return 0
    sleep 0.1
  done
}

# --- Moonlight: pair with the PIN handed to the host through its management API, as a user would.
ml="$work/moonlight"
say "pairing moonlight-python"
"$python" crates/punktfunk-e2e/tests/gamestream/moonlight_client.py pair --port "$base" --client-dir "$ml" \
  --pin 2580 >"$work/pair.out" 2>"$work/pair.err" &
pair=$!
for _ in $(seq 600); do grep -q '^PAIRING' "$work/pair.out" && break; sleep 0.1; done
for _ in $(seq 150); do
  PUNKTFUNK_CONFIG_DIR="$cfg" "$bin/punktfunk-host" pair --pin 2580 --api-port "$api_port" >/dev/null 2>&1 && break
  sleep 0.2
done
wait "$pair"
grep -q '"paired": true' "$work/pair.out" || { cat "$work/pair.out" "$work/pair.err" >&2; say "pairing failed"; exit 1; }

for wh in 1920x1080 1280x720; do
  mode="${wh}@60"
  say "Moonlight $mode: ${warmup} s warm-up + ${secs} s"
  t0="$(now_ms)" from="$(log_size)"
  "$python" "$helper" moonlight --port "$base" --client-dir "$ml" --app "Pattern$wh" --width "${wh%x*}" \
    --height "${wh#*x}" --fps 60 --bitrate "$kbps" --warmup "$warmup" --seconds "$secs" \
    >"$work/ml-$wh.out" 2>"$work/ml-$wh.err"
  settle "GameStream video stages" 1 "$from"
  row stream moonlight "$mode" "$t0" "$from" "$work/ml-$wh.out"
done
say "Moonlight connect → first frame, 5 sequential launches at 1280x720@60"
t0="$(now_ms)" from="$(log_size)"
"$python" "$helper" moonlight --port "$base" --client-dir "$ml" --app Pattern1280x720 --width 1280 --height 720 \
  --fps 60 --bitrate "$kbps" --warmup 0 --seconds "$seq_secs" --launches 5 >"$work/ml-seq.out" 2>"$work/ml-seq.err"
row first_frame moonlight 1280x720@60 "$t0" "$from" "$work/ml-seq.out"

# --- punktfunk/1: punktfunk-probe, H.264 of the real display (--no-stamps), each in its own client dir.
python3 "$helper" content --sway-dir "$sway_dir" 2>"$work/content.log" &
content=$!
# probe NAME MODE SECONDS: one session in the background; its report in $work/NAME.json.
probe() {
  mkdir -p "$work/client-$1"
  now_us="$(date +%s%6N)"
  echo "$now_us" >"$work/$1.t0"
  PUNKTFUNK_CLIENT_DIR="$work/client-$1" "$bin/punktfunk-probe" connect "$addr" --fingerprint "$fp" --name "$1" \
    --codec h264 --no-stamps --mode "$2" --bitrate-kbps "$kbps" --duration "${3}s" --json \
    >"$work/$1.json" 2>"$work/$1.err" &
}
for wh in 1920x1080 1280x720; do
  mode="${wh}@60"
  say "punktfunk/1 $mode: ${prime} s priming session, then ${secs} s"
  rss_base="$(now_ms)"
  from="$(log_size)"
  probe "prime-$wh" "$mode" "$prime"
  wait $! || true
  settle "punktfunk1::session: session over" 1 "$from"
  t0="$(now_ms)" from="$(log_size)"
  probe "p1-$wh" "$mode" "$secs"
  wait $! || true
  settle "punktfunk1::session: session over" 1 "$from"
  row stream punktfunk-probe "$mode" "$t0" "$from" "$work/p1-$wh.json"
done
say "punktfunk/1 4 × 1280x720@30: ${prime4} s priming, then ${secs} s"
pids=()
rss_base="$(now_ms)" from="$(log_size)"
for i in 1 2 3 4; do probe "prime4-$i" 1280x720@30 "$prime4"; pids+=($!); done
wait "${pids[@]}" || true
settle "punktfunk1::session: session over" 4 "$from"
t0="$(now_ms)" from="$(log_size)"
pids=()
for i in 1 2 3 4; do probe "c4-$i" 1280x720@30 "$secs"; pids+=($!); done
wait "${pids[@]}" || true
settle "punktfunk1::session: session over" 4 "$from"
row stream punktfunk-probe 1280x720@30 "$t0" "$from" "$work"/c4-{1,2,3,4}.json
say "punktfunk/1 connect → first frame, 5 sequential sessions at 1280x720@60"
t0="$(now_ms)" from="$(log_size)"
for i in 1 2 3 4 5; do
  probe "seq-$i" 1280x720@60 "$seq_secs"
  wait $! || true
done
row first_frame punktfunk-probe 1280x720@60 "$t0" "$from" "$work"/seq-{1,2,3,4,5}.json

uptime_after="$(uptime)"
say "load after: $uptime_after"
python3 - "$uptime_before" "$uptime_after" >>"$results" <<'PY'
import json, subprocess, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
run = lambda *a: subprocess.run(a, capture_output=True, text=True).stdout.strip()
print(json.dumps({
    "kind": "meta", "cpu": cpu, "cores": int(run("nproc") or 0),
    "ffmpeg": " ".join(run("ffmpeg", "-version").splitlines()[0].split()[:3]),
    "sway": run("sway", "--version"), "git": run("git", "describe", "--always", "--dirty"),
    "uptime_before": sys.argv[1].strip(), "uptime_after": sys.argv[2].strip(),
}))
PY
python3 "$helper" report --results "$results" ${json_out:+--json "$json_out"}
