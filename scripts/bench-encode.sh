#!/usr/bin/env bash
# x264 at 1080p60 / 20 Mbps: punktfunk's encoder (open_libx264, BGRx in, colour conversion included) against the
# `ffmpeg` CLI doing the same encode on the same raw BGRx file, alternating, in one run. Prints a Markdown table:
# per-frame encode() latency p50/p99/mean, throughput of both, and the ratio ours / ffmpeg.
#   scripts/bench-encode.sh [FRAMES (300)] [RUNS (3)]
# RAW=/path/file.bgrx reuses (or keeps) an input file instead of a temporary one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
frames="${1:-300}"
runs="${2:-3}"
w=1920 h=1080 fps=60 kbps=20000
# One frame of VBV, in bits, exactly as punktfunk's RateControl computes it.
bufsize=$(( kbps * 1000 / fps ))
threads="$(nproc)"; (( threads > 16 )) && threads=16

cargo build --release -q -p punktfunk-media --example encode_bench
bench=target/release/examples/encode_bench

if [[ -n "${RAW:-}" ]]; then
  raw="$RAW"
else
  raw="$(mktemp /tmp/punktfunk-encode-bench-XXXXXX.bgrx)"
  trap 'rm -f "$raw"' EXIT
fi
if [[ "$(stat -c %s "$raw" 2>/dev/null || echo 0)" -lt $(( w * h * 4 * frames )) ]]; then
  "$bench" --write-raw "$raw" --frames "$frames" --width "$w" --height "$h" --fps "$fps" >&2
fi
cat "$raw" >/dev/null # into the page cache before anything is timed

# The same x264 session punktfunk opens (crates/punktfunk-media/src/encode/options.rs and ffmpeg_backend.rs):
# ultrafast + zerolatency, sliced threads (one per core, at most 16), no B-frames, no lookahead, infinite GOP,
# forced IDR, CBR with maxrate = bitrate and a one-frame VBV, BT.709 limited-range VUI; the colour conversion
# with punktfunk's swscale flags (bilinear + full chroma input), BT.709 matrix, full-range RGB to limited YUV.
ffmpeg_cli() {
  ffmpeg -hide_banner -nostdin -benchmark \
    -f rawvideo -pix_fmt bgr0 -s "${w}x${h}" -r "$fps" -i "$raw" -frames:v "$frames" \
    -filter_threads "$threads" \
    -vf "scale=flags=bilinear+full_chroma_inp:in_range=pc:out_range=tv:out_color_matrix=bt709,format=yuv420p" \
    -c:v libx264 -threads "$threads" -thread_type slice -preset ultrafast -tune zerolatency -forced-idr 1 \
    -x264-params keyint=infinite:scenecut=0:bframes=0:rc-lookahead=0:sync-lookahead=0:sliced-threads=1:repeat-headers=1 \
    -bf 0 -g 2147483647 -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "$bufsize" -rc_init_occupancy "$bufsize" \
    -color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv \
    -f null -
}

echo "| run | ours encode() p50 ms | p99 ms | mean ms | ours fps | ffmpeg CLI fps (rtime) | ffmpeg CLI fps (wall) | ours / ffmpeg | ours kbit/s | ffmpeg kbit/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
results=()
for run in $(seq "$runs"); do
  ours="$("$bench" --raw "$raw" --frames "$frames" --width "$w" --height "$h" --fps "$fps" --kbps "$kbps" | grep '^RESULT')"
  t0="$(date +%s.%N)"
  cli="$(ffmpeg_cli 2>&1)"
  t1="$(date +%s.%N)"
  row="$(python3 - "$run" "$frames" "$t0" "$t1" "$ours" "$cli" <<'PY'
import re, sys
run, frames, t0, t1, ours, cli = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
o = dict(kv.split("=") for kv in ours.split()[1:])
rtime = float(re.search(r"rtime=([0-9.]+)s", cli).group(1))
coded = re.search(r"frame=\s*(\d+)[^\n\r]*Lsize", cli)
if coded is None or int(coded.group(1)) != frames:
    sys.exit("ffmpeg did not encode %d frames:\n%s" % (frames, cli[-2000:]))
cli_kbps = float(re.search(r"kb/s:([0-9.]+)", cli).group(1))
cli_fps, cli_wall_fps = frames / rtime, frames / (t1 - t0)
ours_fps = float(o["fps"])
print("| %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.2f | %s | %.0f |" % (
    run, float(o["p50_ms"]), float(o["p99_ms"]), float(o["mean_ms"]), ours_fps, cli_fps, cli_wall_fps,
    ours_fps / cli_fps, o["kbps"], cli_kbps))
PY
)"
  echo "$row"
  results+=("$row")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [[c.strip() for c in l.strip().strip("|").split("|")] for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print("| median | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.2f | %.0f | %.0f |" % tuple(med(i) for i in range(1, 10)))
'
echo
echo "$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $(ffmpeg -version | head -1 | cut -d' ' -f1-3); ${frames} frames ${w}x${h} BGRx, ${kbps} kbit/s, ${threads} x264 slice threads"
