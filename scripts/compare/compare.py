"""Helpers of scripts/compare-protocols.sh (run by it, not by hand).

    compare.py burst-trace --loss PCT --burst N --seed S [--length L] [--out FILE]
            a seeded Gilbert–Elliott loss trace (good state: nothing lost; bad state: every packet lost
            for exactly N packets; bad runs start with the probability that makes the mean loss PCT %)
            over L packet slots. Prints it as the interval list of an nftables anonymous set
            (`3-6, 211-214, …`) that a `numgen inc mod L` rule matches: the kernel replays it packet by
            packet, identically for every run with the same seed. --out also writes one slot range a line.
    compare.py pair --host H --port P --client-dir D --pin NNNN
            (moonlight venv python) pairs moonlight-python with the host; prints `PAIRING` when the
            request is out (the host's PIN must be entered then) and `PAIRED` or an error at the end.
    compare.py moonlight --host H --port P --client-dir D --app NAME --width W --height H --fps F
        --bitrate K --seconds S --out FILE
            (moonlight venv python) streams with moonlight-python (moonlight-common-c), prints
            `STREAMING` once real frames flow, streams S more seconds and writes every frame to FILE:
            the complete frames moonlight-common-c handed over and the frames decoded from them.
    compare.py summarise --protocol gamestream|punktfunk1 --condition JSON --window JSON FILES…
            one result row (JSON) for one protocol under one condition, from the client's record and
            the window the impairment was on.
    compare.py report --rows FILE --meta FILE [--json OUT] [--md OUT]
            the Markdown table (stdout, and --md) and the JSON file from the collected rows.

Everything but `pair` and `moonlight` is Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

STALL_MS = 100.0


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# ------------------------------------------------------------------------------------------- traces


def burst_trace(loss_pct: float, burst: int, seed: int, length: int) -> list[tuple[int, int]]:
    """Bad runs of exactly `burst` slots; a good slot starts a bad run with probability q, chosen so
    that the bad share is loss_pct: burst / (burst + 1/q) = p  →  q = p / (burst · (1 − p))."""
    p = loss_pct / 100.0
    q = p / (burst * (1.0 - p))
    rng = random.Random(seed)
    runs: list[tuple[int, int]] = []
    slot = 0
    while slot < length:
        if rng.random() < q:
            end = min(slot + burst, length) - 1
            runs.append((slot, end))
            slot = end + 2  # a bad run is followed by at least one good slot
        else:
            slot += 1
    return runs


def cmd_burst_trace(args) -> None:
    runs = burst_trace(args.loss, args.burst, args.seed, args.length)
    if args.out:
        Path(args.out).write_text("".join(f"{a} {b}\n" for a, b in runs))
    print(", ".join(f"{a}-{b}" for a, b in runs))


# ---------------------------------------------------------------------------------------- moonlight


def cmd_pair(args) -> None:
    from moonlight_python import MoonlightClient
    from moonlight_python.discovery import connect_to_server
    from moonlight_python.identity import Identity

    client_dir = Path(args.client_dir)
    client = MoonlightClient(config_dir=client_dir)
    # connect_to_server, not client.connect(): that would start pairing with a PIN of its own.
    server = connect_to_server(args.host, Identity(client_dir), args.port)
    failure: list[str] = []

    def run() -> None:
        try:
            client.pair(server=server, pin=args.pin)
        except Exception as e:  # printed; the script stops on it
            failure.append(f"{type(e).__name__}: {e}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    print("PAIRING", flush=True)
    thread.join(timeout=120)
    if thread.is_alive():
        failure.append("pair() did not return within 120 s")
    print(f"FAILED {failure[0]}" if failure else "PAIRED", flush=True)
    sys.exit(1 if failure else 0)


def log_to_stdout(session_class) -> None:
    """moonlight-python leaves moonlight-common-c's log callback unset, so its own account of the
    stream (why it dropped a frame, each keyframe request, control stream errors) goes nowhere. Point
    the callback at libc's printf, unbuffered: the lines land in the client's stdout."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int printf(const char*, ...); int setvbuf(void*, char*, int, size_t);"
             "extern void* stdout;")
    libc = ffi.dlopen(None)
    libc.setvbuf(libc.stdout, ffi.NULL, 2, 0)  # _IONBF
    printf = int(ffi.cast("uintptr_t", ffi.addressof(libc, "printf")))
    make = session_class._make_connection_callbacks

    def with_log(self):
        callbacks = make(self)
        callbacks.logMessage = self._ffi.cast("void(*)(const char*, ...)", printf)
        return callbacks

    session_class._make_connection_callbacks = with_log


def cmd_moonlight(args) -> None:
    import av
    import moonlight_python._stream_manager as manager_module
    from moonlight_python import MoonlightClient
    from moonlight_python import decoder as ml_decoder
    from moonlight_python.stream import StreamingSession

    if os.environ.get("MOONLIGHT_LOG"):
        log_to_stdout(StreamingSession)

    # moonlight-python skips an access unit FFmpeg calls invalid data, but any other decoding error
    # (which loss makes likely: a frame referencing one that never arrived) ends its frame thread
    # for good, and moonlight-common-c then keeps asking for keyframes nobody takes. A player skips
    # such a frame and goes on, as Moonlight does: so does this client.
    decode_errors: list[str] = []

    def decode_or_skip(self, annex_b_data: bytes):
        frames = []
        try:
            for frame in self._codec_ctx.decode(av.Packet(annex_b_data)):
                frames.append(frame.to_ndarray(format=self._output_format))
        except av.error.FFmpegError as e:
            if len(decode_errors) < 20:
                decode_errors.append(f"{type(e).__name__}: {e}")
            decode_errors_count[0] += 1
        return frames

    decode_errors_count = [0]
    ml_decoder.Decoder.decode = decode_or_skip

    # Complete frames as moonlight-common-c hands them over (after its FEC and reassembly), and the
    # frames FFmpeg decoded from them (what a player would show), each with the wall time it passed.
    complete: list[list] = []
    shown: list[list] = []
    pull = StreamingSession.pull_frame

    def pulled(self):
        raw = pull(self)
        if raw is not None:
            complete.append([
                time.time(), raw.frame_number, raw.frame_type, raw.enqueue_time_us,
                raw.rtp_timestamp, raw.host_processing_latency_us, len(raw.annex_b_data),
            ])
        return raw

    StreamingSession.pull_frame = pulled
    original = manager_module.stream_frames

    def counted(session, decoder):
        for frame in original(session, decoder):
            shown.append([time.time(), frame.frame_number])
            yield frame

    manager_module.stream_frames = counted
    client = MoonlightClient(config_dir=Path(args.client_dir))
    client.connect(args.host, args.port)
    error = None
    streaming_at = None
    try:
        client.start_stream(app=args.app, width=args.width, height=args.height, fps=args.fps,
                            bitrate_kbps=args.bitrate, codec="h264", ready_timeout=40.0,
                            record_audio=False)
        streaming_at = time.time()
        print("STREAMING", flush=True)
        time.sleep(args.seconds)
    except Exception as e:  # recorded; the summary reports it
        error = f"{type(e).__name__}: {e}"
    finished_at = time.time()
    manager = getattr(client, "_stream_manager", None)
    thread_error = getattr(manager, "_error", None)
    if thread_error is not None:
        error = error or f"frame thread ended: {type(thread_error).__name__}: {thread_error}"
    # moonlight-common-c ending the connection stops the frame thread without an error of its own
    # (pull_frame just returns None from then on), which would look like a frozen stream.
    session = getattr(manager, "_session", None)
    if session is not None and session.is_terminated:
        error = error or f"moonlight-common-c ended the connection (error {session.termination_error})"
    try:
        client.stop_stream()
        client.quit_app()
    except Exception as e:
        error = error or f"stopping: {type(e).__name__}: {e}"
    Path(args.out).write_text(json.dumps({
        "error": error, "streaming_at": streaming_at, "finished_at": finished_at,
        "decode_errors": decode_errors_count[0], "decode_error_samples": decode_errors,
        "complete": complete, "shown": shown,
    }))
    if error:
        print(f"ERROR {error}", flush=True)


# -------------------------------------------------------------------------------------- summarising


def stalls(times: list[float], start: float, end: float) -> tuple[int, float]:
    """Gaps longer than STALL_MS between consecutive shown frames within [start, end] (the window's
    edges count as frames): how many, and the longest in ms."""
    edges = [start] + [t for t in times if start <= t <= end] + [end]
    gaps = [(b - a) * 1000.0 for a, b in zip(edges, edges[1:])]
    long_gaps = [g for g in gaps if g > STALL_MS]
    return len(long_gaps), max(gaps) if gaps else 0.0


def picture_age(frames: list[tuple[float, float]], start: float, end: float, fps: float) -> list[float]:
    """How old the newest picture was, sampled at every refresh of the window: (frame complete at,
    captured at) pairs, wall-clock seconds, in any order; ages in ms. A frozen picture ages on, so
    this folds latency and stalls into one number (the age a viewer sees)."""
    frames = sorted(frames)
    ages: list[float] = []
    newest: float | None = None
    i = 0
    tick = start
    while tick <= end:
        while i < len(frames) and frames[i][0] <= tick:
            newest = frames[i][1] if newest is None else max(newest, frames[i][1])
            i += 1
        if newest is not None:
            ages.append((tick - newest) * 1000.0)
        tick += 1.0 / fps
    return ages


def recovery_ms(times: list[float], outage_end: float | None) -> float | None:
    """From the end of the outage to the first frame shown after it (None: none was)."""
    if outage_end is None:
        return None
    after = [t for t in times if t >= outage_end]
    return round((after[0] - outage_end) * 1000.0, 1) if after else None


def summarise_moonlight(rec: dict, win: dict, fps: float) -> dict:
    start, end = win["on"], win["off"]
    complete, shown = rec["complete"], rec["shown"]
    # Capture → complete. The frame's capture time is the host's clock at the stream's first frame
    # plus the RTP timestamp (90 kHz); that first instant is not sent, so it is bounded from the frames
    # themselves: no frame can be complete before capture + host processing (which the header
    # carries, in 0.1 ms units). The tightest bound over the whole stream puts the network and
    # reassembly time of the quickest frame at zero; every latency below is therefore low by that
    # (sub-millisecond on a veth pair).
    base = None
    for _, _, _, enq, rtp, host, _ in complete:
        if host:
            bound = enq - rtp * 100 / 9 - host * 100
            base = bound if base is None else min(base, bound)
    before = [c for c in complete if c[0] < start]
    in_win = [c for c in complete if start <= c[0] <= end]
    after = [c for c in complete if c[0] > end]
    # The frames the host sent while the impairment was on: every frame number between the last
    # complete frame before the window and the first one after it (the stream runs on past the
    # window, so a frozen picture still shows as the frames it missed).
    lo = before[-1][1] if before else (in_win[0][1] - 1 if in_win else 0)
    if after:
        hi = after[0][1]
        expected = max(hi - lo - 1, 0)
    else:
        # Nothing complete after the window (the picture stayed frozen to the end): the host sent
        # frames at the mode's rate all along.
        expected = round((end - start) * fps)
        hi = lo + expected + 1
    shown_numbers = {fn for _, fn in shown if lo < fn < hi}
    shown_in = [s for s in shown if start <= s[0] <= end]
    # Over every complete frame moonlight-common-c handed over in the window (it hands over only frames
    # it considers decodable, as the probe measures its verified frames).
    latencies = []
    ages: list[float] = []
    if base is not None:
        latencies = [(enq - rtp * 100 / 9 - base) / 1000.0 for _, _, _, enq, rtp, _, _ in in_win]
        shown_all = {fn for _, fn in shown}
        ages = picture_age([(t, t - (enq - rtp * 100 / 9 - base) / 1e6) for t, fn, _, enq, rtp, _, _ in complete
                            if fn in shown_all], start, end, fps)
    times = [s[0] for s in shown_in]
    n_stalls, longest = stalls(times, start, end)
    return {
        "frames_expected": expected,
        "frames_shown": len(shown_numbers),
        "frames_complete": len(in_win),
        "keyframes_received": sum(1 for c in in_win if c[2] == 1),
        "video_bytes": sum(c[6] for c in in_win),
        "latency_ms": latencies,
        "age_ms": ages,
        "stalls": n_stalls,
        "longest_gap_ms": round(longest, 1),
        "recover_ms": recovery_ms(times, win.get("outage_end")),
        "decode_errors": rec.get("decode_errors"),
        "error": rec.get("error"),
    }


def summarise_probe(report: dict, timeline: list[dict], win: dict, fps: float) -> dict:
    start, end = win["on"], win["off"]
    t0 = report["stream_start_unix_us"] / 1e6
    rows = [r for r in timeline if start <= t0 + r["at_ms"] / 1000.0 <= end]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + r["count"]
    whole = [r for r in rows if r["status"] in ("ok", "recovered")]
    times = [t0 + r["at_ms"] / 1000.0 for r in whole]
    n_stalls, longest = stalls(times, start, end)
    return {
        "frames_expected": sum(counts.values()),
        "frames_shown": len(whole),
        "frames_complete": len(whole) + counts.get("skipped", 0),
        "frames_recovered_fec": counts.get("recovered", 0),
        "frames_skipped": counts.get("skipped", 0),
        "frames_lost": counts.get("lost", 0),
        "keyframe_requests_session": report["keyframe_requests"],
        "video_bytes": sum(r.get("bytes", 0) for r in whole),
        "latency_ms": [r["latency_us"] / 1000.0 for r in whole if r.get("latency_us") is not None],
        "age_ms": picture_age([(t0 + r["at_ms"] / 1000.0, t0 + r["at_ms"] / 1000.0 - r["latency_us"] / 1e6)
                               for r in timeline if r["status"] in ("ok", "recovered")
                               and r.get("latency_us") is not None], start, end, fps),
        "stalls": n_stalls,
        "longest_gap_ms": round(longest, 1),
        "recover_ms": recovery_ms(times, win.get("outage_end")),
        "host_bitrate_kbps_end": report["host_bitrate_kbps"],
        "host_parity_percent_end": report["host_parity_percent"],
        "error": report.get("ended_early"),
    }


def cmd_summarise(args) -> None:
    cond = json.loads(args.condition)
    win = json.loads(args.window)
    row: dict = {"protocol": args.protocol, "condition": cond["name"], "kind": cond["kind"]}
    try:
        if args.protocol == "gamestream":
            s = summarise_moonlight(json.loads(Path(args.files[0]).read_text()), win, args.fps)
        else:
            report = json.loads(Path(args.files[0]).read_text())
            timeline = [json.loads(line) for line in Path(args.files[1]).read_text().splitlines() if line]
            s = summarise_probe(report, timeline, win, args.fps)
    except (OSError, ValueError, KeyError, IndexError) as e:
        row["error"] = f"no usable client record: {type(e).__name__}: {e}"
        print(json.dumps(row))
        return
    lat = s.pop("latency_ms")
    age = s.pop("age_ms")
    secs = max(win["off"] - win["on"], 1e-6)
    wire = win.get("wire_down_bytes")
    row.update(s)
    row.update({
        "window_s": round(secs, 2),
        "delivered_pct": round(100.0 * s["frames_shown"] / s["frames_expected"], 2) if s["frames_expected"] else None,
        "latency_p50_ms": r2(pct(lat, 0.5)), "latency_p95_ms": r2(pct(lat, 0.95)),
        "latency_p99_ms": r2(pct(lat, 0.99)), "latency_samples": len(lat),
        "age_p50_ms": r2(pct(age, 0.5)), "age_p95_ms": r2(pct(age, 0.95)), "age_max_ms": r2(max(age) if age else None),
        "window": {k: win.get(k) for k in ("on", "off", "outage_end")},
        "udp_rcvbuf_errors_client": win.get("rcvbuf_errors"),
        "video_mbps": round(s["video_bytes"] * 8 / secs / 1e6, 2),
        "wire_down_mbps": round(wire * 8 / secs / 1e6, 2) if wire is not None else None,
        "overhead_pct": round(100.0 * (wire / s["video_bytes"] - 1), 1) if wire and s["video_bytes"] else None,
        "dropped_down_pct": win.get("dropped_down_pct"),
        "dropped_down_packets": win.get("dropped_down_packets"),
        # Mean IP bytes of what the impairment saw: one datagram each (at most the link's MTU), not
        # segmentation-offload batches.
        "wire_down_packet_bytes": (
            round(wire / win["wire_down_packets"]) if wire and win.get("wire_down_packets") else None
        ),
        "keyframe_requests_host": win.get("keyframe_requests_host"),
    })
    print(json.dumps(row))


def r2(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


# ------------------------------------------------------------------------------------------ report


def fmt(v, digits: int = 1, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def cmd_report(args) -> None:
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line.strip()]
    meta = json.loads(Path(args.meta).read_text())
    out: list[str] = []
    p = out.append
    p(f"{meta['mode']} H.264 at {meta['bitrate_kbps'] // 1000} Mbit/s, moving testsrc2, both protocols from one "
      f"`punktfunk-host serve` in one network namespace to clients in another over a veth pair; "
      f"{meta['window_s']} s measured per condition; {meta['cores']} × {meta['cpu']}, kernel {meta['kernel']}; "
      f"{meta['git']}.")
    p("")
    p("| condition | protocol | delivered % | shown / expected | keyframe req. (host) | FEC-repaired | "
      "stalls > 100 ms | longest gap ms | latency p50 / p95 / p99 ms (frames) | picture age p50 / p95 ms | "
      "recover ms | video Mbit/s | wire Mbit/s | overhead % | dropped % |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = {"gamestream": "GameStream (moonlight-common-c)", "punktfunk1": "punktfunk/1 (probe)"}[r["protocol"]]
        if "frames_expected" not in r:
            p(f"| {r['condition']} | {name} | failed: {r.get('error')} |" + " |" * 13)
            continue
        lat = " / ".join(fmt(r[k]) for k in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"))
        lat += f" ({r['latency_samples']})"
        age = " / ".join(fmt(r.get(k), 0) for k in ("age_p50_ms", "age_p95_ms"))
        p(f"| {r['condition']} | {name} | {fmt(r['delivered_pct'], 1)} | {r['frames_shown']} / {r['frames_expected']} | "
          f"{fmt(r.get('keyframe_requests_host'))} | {fmt(r.get('frames_recovered_fec'))} | {r['stalls']} | "
          f"{fmt(r['longest_gap_ms'], 0)} | {lat} | {age} | {fmt(r['recover_ms'], 0)} | {fmt(r['video_mbps'], 1)} | "
          f"{fmt(r['wire_down_mbps'], 1)} | {fmt(r['overhead_pct'], 1)} | {fmt(r['dropped_down_pct'], 1)} |")
    p("")
    verdicts = verdict_lines(rows)
    out.extend(verdicts)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if args.md:
        Path(args.md).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


def verdict_lines(rows: list[dict]) -> list[str]:
    """Where punktfunk/1 does not deliver at least GameStream's frame share, or has the higher p95,
    under a condition with loss."""
    by = {}
    for r in rows:
        by.setdefault(r["condition"], {})[r["protocol"]] = r
    lines = []
    for cond, pair in by.items():
        gs, p1 = pair.get("gamestream"), pair.get("punktfunk1")
        if not gs or not p1 or cond == "0 %" or "frames_expected" not in gs or "frames_expected" not in p1:
            continue
        if (p1["delivered_pct"] or 0) < (gs["delivered_pct"] or 0):
            lines.append(f"- {cond}: punktfunk/1 delivered fewer frames ({fmt(p1['delivered_pct'])} % "
                         f"against {fmt(gs['delivered_pct'])} %)")
        if p1["latency_p95_ms"] is not None and gs["latency_p95_ms"] is not None \
                and p1["latency_p95_ms"] >= gs["latency_p95_ms"]:
            lines.append(f"- {cond}: punktfunk/1 p95 latency not lower ({fmt(p1['latency_p95_ms'])} ms over "
                         f"{p1['latency_samples']} frames against {fmt(gs['latency_p95_ms'])} ms over "
                         f"{gs['latency_samples']}); p95 picture age {fmt(p1.get('age_p95_ms'), 0)} ms against "
                         f"{fmt(gs.get('age_p95_ms'), 0)} ms")
    if lines:
        return ["Where punktfunk/1 did not win (see docs/comparison.md for why):", ""] + lines
    return ["punktfunk/1 delivered at least GameStream's frame share at a lower p95 latency under every "
            "condition with loss."]


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("burst-trace")
    t.add_argument("--loss", type=float, required=True)
    t.add_argument("--burst", type=int, required=True)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--length", type=int, default=60000)
    t.add_argument("--out")
    pr = sub.add_parser("pair")
    m = sub.add_parser("moonlight")
    for s in (pr, m):
        s.add_argument("--host", required=True)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--client-dir", required=True)
    pr.add_argument("--pin", required=True)
    m.add_argument("--app", required=True)
    m.add_argument("--width", type=int, required=True)
    m.add_argument("--height", type=int, required=True)
    m.add_argument("--fps", type=int, required=True)
    m.add_argument("--bitrate", type=int, required=True)
    m.add_argument("--seconds", type=float, required=True)
    m.add_argument("--out", required=True)
    s = sub.add_parser("summarise")
    s.add_argument("--protocol", choices=["gamestream", "punktfunk1"], required=True)
    s.add_argument("--condition", required=True)
    s.add_argument("--window", required=True)
    s.add_argument("--fps", type=float, default=60.0)
    s.add_argument("files", nargs="+")
    r = sub.add_parser("report")
    r.add_argument("--rows", required=True)
    r.add_argument("--meta", required=True)
    r.add_argument("--json")
    r.add_argument("--md")
    args = ap.parse_args()
    {"burst-trace": cmd_burst_trace, "pair": cmd_pair, "moonlight": cmd_moonlight,
     "summarise": cmd_summarise, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
