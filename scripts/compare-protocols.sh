#!/usr/bin/env bash
# punktfunk/1 against GameStream on the same impaired path, same content, same host (issue #19).
# One release host (`punktfunk-host serve`, GameStream on too) runs in one network namespace, the
# clients in another, joined by a veth pair (10.203.9.1 ↔ 10.203.9.2). Both protocols stream the same
# moving picture (ffplay testsrc2 full screen on the session's display) as H.264 1280×720@60 at
# 20 Mbit/s: GameStream to moonlight-python (the real moonlight-common-c: Moonlight's FEC and
# recovery), punktfunk/1 to punktfunk-probe. nftables drops UDP on the veth, each direction where it
# arrives (host → client in the client namespace, client → host in the host's): iid loss (`numgen
# random`), seeded Gilbert–Elliott bursts replayed packet by packet by the kernel (`numgen inc mod L`
# against the trace's interval set) and a 2 s outage. The loss is per datagram, as on a network (see
# the link setup below). Each protocol runs each condition in turn; the impairment is on for a fixed
# window once the stream runs.
# Prints a Markdown table and writes it with the JSON (default target/compare-protocols/report.json,
# the Markdown next to it as .md); docs/comparison.md explains the columns.
#   scripts/compare-protocols.sh [--quick] [--json FILE]
# --quick: iid 1 %, bursts of 16 at 5 % and the outage, 6 s windows (the smoke test,
# crates/punktfunk-e2e/tests/compare_smoke.rs). Needs root (namespaces, nftables).
# NO_BUILD=1 skips `cargo build` (uses target/release); KEEP_WORK=1 keeps the temp dir (host log,
# every client's record); MOONLIGHT_LOG=1 puts moonlight-common-c's own log (each dropped frame and
# why, each keyframe request) in every GameStream client's output (gs-N.out in the kept dir); SEED=N
# changes the burst traces' seed (default 19); CONDITIONS and WINDOW (below) run a subset.
set -euo pipefail
caller_pwd="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

source scripts/bench-args.sh
parse_bench_args "$@"
[[ -n "$json_out" ]] || json_out="$root/target/compare-protocols/report.json"
md_out="${json_out%.json}.md"
mkdir -p "$(dirname "$json_out")"

mode_w=1280 mode_h=720 fps=60 kbps=20000
seed="${SEED:-19}"
if ((quick)); then
  window=6 outage_at=2
  conditions=("iid 1" "burst 16 5" "outage")
else
  window=20 outage_at=4
  conditions=("iid 0" "iid 1" "iid 2" "iid 5" "iid 10" "iid 20" "burst 4 2" "burst 4 5" "burst 16 2" "burst 16 5" "outage")
fi
outage_s=2
# CONDITIONS="iid 1;burst 4 5" runs only those (for a closer look at one of them); WINDOW=S changes
# the measured window.
if [[ -n "${CONDITIONS:-}" ]]; then IFS=';' read -r -a conditions <<<"$CONDITIONS"; fi
window="${WINDOW:-$window}"

say() { printf 'compare-protocols: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
((EUID == 0)) || die "needs root (network namespaces, nftables)"
command -v ip >/dev/null || die "needs iproute2 (ip): run scripts/setup.sh"
command -v nft >/dev/null || die "needs nftables (nft): run scripts/setup.sh"

started_at="$(date +%s)"
if [[ -z "${NO_BUILD:-}" ]]; then
  say "building (release)"
  cargo build --release -q -p punktfunk-host -p punktfunk-client --bins
fi
bin="${BIN_DIR:-target/release}"
python="$(scripts/moonlight-venv.sh)"
helper="$root/scripts/compare/compare.py"

# --- the link: two namespaces of our own, a veth pair, private addresses.
id=$$
hns="pfcmp-h$id" cns="pfcmp-c$id"
hdev="pfcmph$id" cdev="pfcmpc$id"
haddr=10.203.9.1 caddr=10.203.9.2
work="$(mktemp -d /tmp/punktfunk-compare-XXXXXX)"
host="" client=""
cleanup() {
  set +e
  [[ -n "$client" ]] && kill "$client" 2>/dev/null && wait "$client" 2>/dev/null
  stop_bench_host "$host"
  ip netns del "$hns" 2>/dev/null
  ip netns del "$cns" 2>/dev/null
  if [[ -n "${KEEP_WORK:-}" ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
ip netns add "$hns"
ip netns add "$cns"
# gso_max_segs 1: the kernel hands a segmentation-offload send (up to 64 KiB of datagrams) across a
# veth as one packet, so a rule dropping "one packet" would drop a whole burst of the host's datagrams
# at once (a wire segments it first). With one segment per packet the kernel cuts every GSO send into
# its datagrams before the veth, and every rule below sees datagrams.
ip link add name "$hdev" netns "$hns" gso_max_segs 1 type veth peer name "$cdev" netns "$cns" gso_max_segs 1
ip -n "$hns" addr add "$haddr/24" dev "$hdev"
ip -n "$cns" addr add "$caddr/24" dev "$cdev"
for ns in "$hns" "$cns"; do ip -n "$ns" link set lo up; done
ip -n "$hns" link set "$hdev" up
ip -n "$cns" link set "$cdev" up
# (Processes started in the background are started with `ip netns exec` itself, which execs them: $!
# is then their PID, not a subshell's, and the cleanup reaches them.)
hx() { ip netns exec "$hns" "$@"; }
cx() { ip netns exec "$cns" "$@"; }

# Each direction is impaired where it arrives (the receiving namespace's input hook), so the sender's
# kernel never refuses a send: a drop in the sender's own output hook fails its sendto() with EPERM,
# which no network does, and which moonlight-common-c takes for a dead control stream (it ends the
# connection). The impairment's rules go into the `down` and `up` chains and are flushed after each
# window. wire_down counts the datagrams that reach the client's side before the impairment (after
# segmentation), wire_up what reaches the host after it.
hx nft -f - <<EOF
table inet cmp {
  counter wire_up {}
  counter dropped_up {}
  chain up { type filter hook input priority -10; policy accept; }
  chain in { type filter hook input priority 0; policy accept; iifname "$hdev" meta l4proto udp counter name wire_up; }
}
EOF
cx nft -f - <<EOF
table inet cmp {
  counter wire_down {}
  counter dropped_down {}
  chain wire { type filter hook input priority -20; policy accept; iifname "$cdev" meta l4proto udp counter name wire_down; }
  chain down { type filter hook input priority -10; policy accept; }
}
EOF
# counter NS NAME: "packets bytes"
counter() {
  ip netns exec "$1" nft list counter inet cmp "$2" | sed -n 's/.*packets \([0-9]*\) bytes \([0-9]*\).*/\1 \2/p'
}
# impair EXPR: drop the UDP datagrams on the veth that EXPR matches, both directions (each direction
# with a rule of its own, so `numgen inc` counts each direction's packets from 0).
impair() {
  cx nft add rule inet cmp down iifname "$cdev" meta l4proto udp "$@" counter name dropped_down drop
  hx nft add rule inet cmp up iifname "$hdev" meta l4proto udp "$@" counter name dropped_up drop
}
clear_impairment() { cx nft flush chain inet cmp down; hx nft flush chain inet cmp up; }
# Datagrams the client namespace's kernel dropped because a socket's receive buffer was full.
rcvbuf_errors() { cx awk '/^Udp:/ && ++n == 2 { print $6 }' /proc/net/snmp; }

# --- content: the same moving picture for both protocols.
mkdir -p "$work/share/applications" "$work/config" "$work/xdg-config"
pattern="ffplay -loglevel error -an -fs -f lavfi -i testsrc2=size=${mode_w}x${mode_h}:rate=$fps"
cat >"$work/share/applications/moving.desktop" <<EOF
[Desktop Entry]
Type=Application
Name=Moving
Categories=Game;
Exec=env SDL_VIDEODRIVER=wayland $pattern
EOF
cat >"$work/config/config.toml" <<EOF
[[apps]]
name = "Pattern"
cmd = "exec $pattern"
env = { SDL_VIDEODRIVER = "wayland" }
EOF

gs_port=47989
log="$work/host.log"
say "starting the host in $hns ($haddr)"
# Debug for the two modules that log each keyframe request a client sends.
ip netns exec "$hns" env XDG_DATA_HOME="$work/share" XDG_CONFIG_HOME="$work/xdg-config" XDG_DATA_DIRS="$work/none" \
  PUNKTFUNK_CONFIG_DIR="$work/config" \
  RUST_LOG="info,punktfunk_host::protocols::gamestream::control_server=debug,punktfunk_host::protocols::punktfunk1::session=debug" \
  "$bin/punktfunk-host" serve --compositor headless --bind "$haddr" --port 0 --api-bind 127.0.0.1 --api-port 0 \
  --no-mdns --open --gamestream --gamestream-port-base "$gs_port" >"$work/host.out" 2>"$log" &
host=$!
for _ in $(seq 300); do
  grep -q '^API https://' "$work/host.out" 2>/dev/null && break
  kill -0 "$host" 2>/dev/null || { tail -20 "$log" >&2; die "the host exited"; }
  sleep 0.1
done
grep -q '^API https://' "$work/host.out" || die "the host did not start"
addr="$(sed -n 's/^READY quic=\([^ ]*\) .*/\1/p' "$work/host.out")"
fp="$(sed -n 's/^READY .* fingerprint=\([0-9a-f]*\).*/\1/p' "$work/host.out")"
api_port="$(sed -n 's/^API https:\/\/.*:\([0-9]*\).*/\1/p' "$work/host.out")"
[[ -n "$addr" && -n "$fp" && -n "$api_port" ]] || die "no READY/API line from the host"
sessions() { sed -n 's/^SESSIONS \([0-9]*\)$/\1/p' "$work/host.out" | tail -1; }

# --- Moonlight pairs with the PIN handed to the host through its management API, as a user would.
ml="$work/moonlight"
say "pairing moonlight-python"
ip netns exec "$cns" "$python" "$helper" pair --host "$haddr" --port "$gs_port" --client-dir "$ml" --pin 1919 \
  >"$work/pair.out" 2>"$work/pair.err" &
pair=$!
for _ in $(seq 600); do grep -q '^PAIRING' "$work/pair.out" && break; sleep 0.1; done
for _ in $(seq 150); do
  hx env PUNKTFUNK_CONFIG_DIR="$work/config" "$bin/punktfunk-host" pair --pin 1919 --api-port "$api_port" \
    >/dev/null 2>&1 && break
  sleep 0.2
done
wait "$pair" || { cat "$work/pair.out" "$work/pair.err" >&2; die "pairing failed"; }

now() { date +%s.%N; }
log_size() { stat -c %s "$log"; }
rows="$work/rows.jsonl"
: >"$rows"

# window KIND ARGS...: with the stream running, switch the condition's impairment on for $window
# seconds, then off; writes the window's JSON (times, wire bytes, drops) to $work/window.json.
window() {
  local kind="$1" dp0 db0 dp1 db1 ub0 ub1 dd0 dd1 rb0 rb1 on off outage_end=null
  rb0="$(rcvbuf_errors)"
  read -r dp0 db0 < <(counter "$cns" wire_down)
  read -r _ ub0 < <(counter "$hns" wire_up)
  read -r dd0 _ < <(counter "$cns" dropped_down)
  on="$(now)"
  case "$kind" in
    iid) if (($2 > 0)); then impair numgen random mod 100 "<" "$2"; fi ;;
    burst) impair numgen inc mod "$trace_len" "{ $trace }" ;;
  esac
  if [[ "$kind" == outage ]]; then
    sleep "$outage_at"
    impair
    sleep "$outage_s"
    clear_impairment
    outage_end="$(now)"
    sleep "$((window - outage_at - outage_s))"
  else
    sleep "$window"
    clear_impairment
  fi
  off="$(now)"
  read -r dp1 db1 < <(counter "$cns" wire_down)
  read -r _ ub1 < <(counter "$hns" wire_up)
  read -r dd1 _ < <(counter "$cns" dropped_down)
  rb1="$(rcvbuf_errors)"
  printf '{"on": %s, "off": %s, "outage_end": %s, "wire_down_packets": %d, "wire_down_bytes": %d, "wire_up_bytes": %d, "dropped_down_packets": %d, "rcvbuf_errors": %d}\n' \
    "$on" "$off" "$outage_end" "$((dp1 - dp0))" "$((db1 - db0))" "$((ub1 - ub0))" "$((dd1 - dd0))" "$((rb1 - rb0))" >"$work/window.json"
}

# finish_row PROTOCOL CONDITION_JSON LOG_FROM PATTERN FILES...: the row, with the keyframe requests the
# host logged for this run and the share of host → client datagrams the impairment dropped.
finish_row() {
  local proto="$1" cond="$2" from="$3" pattern="$4"
  shift 4
  local requests
  requests="$(tail -c "+$((from + 1))" "$log" | grep -c "$pattern" || true)"
  local win
  win="$(python3 - "$work/window.json" "$requests" <<'EOF'
import json, sys
w = json.load(open(sys.argv[1]))
w["keyframe_requests_host"] = int(sys.argv[2])
if w.get("wire_down_packets"):
    w["dropped_down_pct"] = round(100.0 * w["dropped_down_packets"] / w["wire_down_packets"], 2)
print(json.dumps(w))
EOF
)"
  python3 "$helper" summarise --protocol "$proto" --condition "$cond" --window "$win" --fps "$fps" "$@" >>"$rows"
}

run_gamestream() { # KIND ARGS... (condition JSON in $cond)
  local out="$work/gs-$n.json" from
  from="$(log_size)"
  ip netns exec "$cns" "$python" "$helper" moonlight --host "$haddr" --port "$gs_port" --client-dir "$ml" --app Pattern \
    --width "$mode_w" --height "$mode_h" --fps "$fps" --bitrate "$kbps" --seconds "$((window + 3))" \
    --out "$out" >"$work/gs-$n.out" 2>"$work/gs-$n.err" &
  client=$!
  for _ in $(seq 600); do
    grep -q '^STREAMING\|^ERROR' "$work/gs-$n.out" && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^STREAMING' "$work/gs-$n.out"; then
    sleep 1
    window "$@"
  else
    say "GameStream did not start streaming: $(tail -3 "$work/gs-$n.err" | tr '\n' ' ')"
    echo '{"on": 0, "off": 0}' >"$work/window.json"
  fi
  wait "$client" || true
  client=""
  # The host logs GameStream keyframe requests as "IDR requested" (and RFI as "reference frames lost").
  finish_row gamestream "$cond" "$from" "IDR requested\|reference frames lost" "$out"
}

run_punktfunk1() { # KIND ARGS...
  local out="$work/p1-$n.json" tl="$work/p1-$n.timeline" from
  from="$(log_size)"
  mkdir -p "$work/client"
  ip netns exec "$cns" env PUNKTFUNK_CLIENT_DIR="$work/client" "$bin/punktfunk-probe" connect "$addr" --fingerprint "$fp" \
    --name compare --codec h264 --no-stamps --mode "${mode_w}x${mode_h}@$fps" --bitrate-kbps "$kbps" \
    --duration "$((window + 5))s" --launch desktop:moving --json --timeline "$tl" >"$out" 2>"$work/p1-$n.err" &
  client=$!
  # The session runs once the host counts it; the title then needs a moment to start drawing.
  for _ in $(seq 100); do
    [[ "$(sessions)" == 1 ]] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$(sessions)" == 1 ]]; then
    sleep 2
    window "$@"
  else
    say "punktfunk/1 did not start streaming: $(tail -3 "$work/p1-$n.err" | tr '\n' ' ')"
    echo '{"on": 0, "off": 0}' >"$work/window.json"
  fi
  wait "$client" || true
  client=""
  for _ in $(seq 100); do [[ "$(sessions)" == 0 ]] && break; sleep 0.1; done
  finish_row punktfunk1 "$cond" "$from" "keyframe requested" "$out" "$tl"
}

n=0
for c in "${conditions[@]}"; do
  read -r kind a b <<<"$c"
  trace="" trace_len=60000
  case "$kind" in
    iid) name="$a %" ;;
    burst)
      name="bursts of $a at $b %"
      trace="$(python3 "$helper" burst-trace --loss "$b" --burst "$a" --seed "$seed" --length "$trace_len" \
        --out "$work/trace-$a-$b.txt")"
      ;;
    outage) name="${outage_s} s outage" ;;
  esac
  cond="$(printf '{"name": "%s", "kind": "%s"}' "$name" "$kind")"
  for proto in gamestream punktfunk1; do
    n=$((n + 1))
    say "$name: $proto (${window} s window)"
    case "$kind" in
      iid) "run_$proto" iid "$a" ;;
      burst) "run_$proto" burst ;;
      outage) "run_$proto" outage ;;
    esac
  done
done

python3 - "$work/meta.json" "${mode_w}x${mode_h}@$fps" "$kbps" "$window" "$seed" "$started_at" <<'EOF'
import json, os, subprocess, sys, time
path, mode, kbps, window, seed, started = sys.argv[1:7]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
run = lambda *a: subprocess.run(a, capture_output=True, text=True).stdout.strip()
json.dump({
    "mode": mode, "bitrate_kbps": int(kbps), "codec": "h264", "window_s": int(window), "burst_seed": int(seed),
    "cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
    "git": run("git", "describe", "--always", "--dirty"), "run_seconds": round(time.time() - int(started)),
}, open(path, "w"))
EOF
python3 "$helper" report --rows "$rows" --meta "$work/meta.json" --json "$json_out" --md "$md_out"
say "wrote $json_out and $md_out in $(($(date +%s) - started_at)) s"
