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
