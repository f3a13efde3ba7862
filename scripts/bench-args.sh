# Sourced by the benchmark scripts (not run): their common arguments, `[--quick] [--json FILE]`,
# and stopping the host they started.
# Sets $quick (0/1) and $json_out (FILE made absolute against $caller_pwd, the directory the script
# was started from; empty without --json). -h prints the calling script's header comment.
parse_bench_args() {
  quick=0
  json_out=""
  while (($#)); do
    case "$1" in
      --quick) quick=1 ;;
      --json) json_out="$(cd "$caller_pwd" && realpath -m "${2:?--json needs a file}")"; shift ;;
      -h | --help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
      *) echo "unknown argument: $1 (usage: $0 [--quick] [--json FILE])" >&2; exit 2 ;;
    esac
    shift
  done
}

# Stops a host the script started (PID in $1; nothing when empty): SIGTERM, so the host stops its
# private sway and the apps on it itself; SIGKILL after 15 s.
stop_bench_host() {
  [[ -n "$1" ]] || return 0
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# The benchmarks' host: builds the release host and probe (unless NO_BUILD=1; BIN_DIR overrides
# target/release), makes a temp dir (removed on exit unless KEEP_WORK=1) holding a desktop-entry
# "game" `moving` (ffplay testsrc2 at size $1, full screen) and the host's config, and starts
# `serve` on its private headless sway with it (loopback, free ports, --open). Returns once the
# host printed a line starting with $2. Sets $bin, $work (host.out, host.log, client/) and $host.
start_bench_serve() {
  local size=$1 ready=$2 name
  name=$(basename "$0" .sh)
  if [[ -z "${NO_BUILD:-}" ]]; then
    printf '%s: building (release)\n' "$name" >&2
    cargo build --release -q -p punktfunk-host -p punktfunk-client --bins
  fi
  bin="${BIN_DIR:-target/release}"
  work="$(mktemp -d "/tmp/punktfunk-$name-XXXXXX")"
  host=""
  trap stop_bench_serve EXIT
  mkdir -p "$work/share/applications" "$work/config" "$work/client"
  cat >"$work/share/applications/moving.desktop" <<ENTRY
[Desktop Entry]
Type=Application
Name=Moving
Categories=Game;
Exec=env SDL_VIDEODRIVER=wayland ffplay -loglevel error -an -fs -f lavfi -i testsrc2=size=$size:rate=60
ENTRY
  printf '%s: starting the host\n' "$name" >&2
  XDG_DATA_HOME="$work/share" XDG_CONFIG_HOME="$work/xdg-config" XDG_DATA_DIRS="$work/none" \
    PUNKTFUNK_CONFIG_DIR="$work/config" RUST_LOG=info \
    "$bin/punktfunk-host" serve --compositor headless --bind 127.0.0.1 --port 0 \
    --api-bind 127.0.0.1 --api-port 0 --no-mdns --open >"$work/host.out" 2>"$work/host.log" &
  host=$!
  for _ in $(seq 300); do
    grep -q "^$ready" "$work/host.out" 2>/dev/null && return 0
    kill -0 "$host" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$work/host.log" >&2
  printf '%s: the host printed no %s line\n' "$name" "$ready" >&2
  exit 1
}

# Stops what start_bench_serve started (its EXIT trap).
stop_bench_serve() {
  set +e
  stop_bench_host "$host"
  if [[ -n "${KEEP_WORK:-}" ]]; then printf 'kept %s\n' "$work" >&2; else rm -rf "$work"; fi
}
