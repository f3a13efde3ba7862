#!/usr/bin/env bash
# Connect → first video datagram for sequential punktfunk/1 sessions against one host on its own
# virtual displays (the first session creates an output, later ones reuse what earlier ones left).
# Starts its own host (debug build unless --release) on the private headless sway unless
# --compositor says otherwise; prints one line per session and the medians, or JSON with --json.
#   scripts/bench-session-start.sh [--release] [--json] [--compositor NAME] [--sessions N]
#                                  [--modes 1280x720@60,1920x1080@60,...]
# Modes are used in turn, one per session (default: every session at 1280x720@60).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=debug json=0 compositor=headless sessions=5 modes=1280x720@60
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release ;;
    --json) json=1 ;;
    --compositor) compositor="$2"; shift ;;
    --sessions) sessions="$2"; shift ;;
    --modes) modes="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$profile" = release ]; then
  cargo build --release -q -p punktfunk-host -p punktfunk-client
else
  cargo build -q -p punktfunk-host -p punktfunk-client
fi
bin="target/$profile"
cfg="$(mktemp -d)"
out="$cfg/host.out"
# --open: the probe is trusted on first use (pairing is not what this measures).
PUNKTFUNK_CONFIG_DIR="$cfg" RUST_LOG=warn "$bin/punktfunk-host" serve --bind 127.0.0.1 --port 0 \
  --no-mdns --api-bind 127.0.0.1 --api-port 0 --open --compositor "$compositor" >"$out" 2>"$cfg/host.err" &
host=$!
trap 'kill $host 2>/dev/null; wait $host 2>/dev/null; rm -rf "$cfg"' EXIT
for _ in $(seq 150); do grep -q READY "$out" && break; sleep 0.1; done
grep -q READY "$out" || { echo "host did not come up:" >&2; tail -20 "$cfg/host.err" >&2; exit 1; }

# The probe's report counts from the Welcome; the time before it (handshake, display, encoder) is
# taken from the probe's own "connected" log line, on the same wall clock as the report's
# stream_start_unix_us.
python3 - "$bin/punktfunk-probe" "$out" "$cfg/client" "$sessions" "$modes" "$json" <<'PY'
import datetime, json, os, re, statistics, subprocess, sys
probe, out, client_dir, n, modes, as_json = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","), sys.argv[6] == "1"
txt = open(out).read()
addr = re.search(r"^READY quic=(\S+)", txt, re.M).group(1)
fp = re.search(r"fingerprint=([0-9a-f]+)", txt).group(1)
env = dict(os.environ, PUNKTFUNK_CLIENT_DIR=client_dir, RUST_LOG="info", NO_COLOR="1")
rows = []
for i in range(n):
    mode = modes[i % len(modes)]
    p = subprocess.run([probe, "connect", addr, "--fingerprint", fp, "--codec", "h264", "--no-stamps",
                        "--duration", "1s", "--json", "--mode", mode], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"session {i + 1} failed: {p.stderr[-2000:]}")
    r = json.loads(p.stdout)
    log = re.sub(r"\x1b\[[0-9;]*m", "", p.stderr)
    stamp = re.search(r"^(\S+Z)\s+INFO\s+punktfunk_client::session::control: connected", log, re.M).group(1)
    connected_ms = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e3
    first_ms = r["stream_start_unix_us"] / 1e3 + r["first_datagram_ms"] - connected_ms
    rows.append({"session": i + 1, "mode": mode, "connect_to_first_datagram_ms": round(first_ms, 1),
                 "welcome_to_first_datagram_ms": round(r["first_datagram_ms"], 1), "fps": round(r["fps"], 1)})
times = [row["connect_to_first_datagram_ms"] for row in rows]
summary = {"sessions": rows, "first_ms": times[0], "median_ms": statistics.median(times),
           "later_median_ms": statistics.median(times[1:]) if len(times) > 1 else None}
if as_json:
    print(json.dumps(summary))
else:
    print("| session | mode | connect → first datagram ms | Welcome → first datagram ms | fps |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        print("| %(session)d | %(mode)s | %(connect_to_first_datagram_ms).0f | %(welcome_to_first_datagram_ms).0f | %(fps).1f |" % row)
    later = summary["later_median_ms"]
    print(f"\nfirst {times[0]:.0f} ms, later sessions median {later:.0f} ms, all median {summary['median_ms']:.0f} ms"
          if later is not None else f"\nfirst {times[0]:.0f} ms")
PY
