"""Streaming half of crates/punktfunk-e2e/tests/gamestream_e2e.rs, on moonlight-python (the real
moonlight-common-c client; scripts/moonlight-venv.sh installs it). The client in --client-dir must
already be paired (moonlight_client.py pair).

Run by the Rust test, never by hand. Prints progress lines and one final `RESULT <json>` line:
frames decoded in the measuring window, the centre pixel (RGB) of the last frame, the host
processing latency the host wrote into the frame headers as the client read it, audio chunks
decoded, and the host's `currentgame` after quit_app().

    moonlight_stream.py --port P --client-dir D [--app NAME] [--codec h264|hevc|av1]
        [--width W --height H --fps F] [--seconds S] [--launches N] [--until-end S] [--resume]
        [--pause-after K] [--brief] [--debug]

With --pause-after K the script prints `PAUSED` after K launches and waits for a line on stdin
before the rest (a test samples the host in between). With --brief the RESULT carries only the
number of launches and each launch's frame count (leak tests run hundreds).

With --resume the script streams, ends the stream without quitting the app (as closing Moonlight
does), reads `currentgame`, streams again — moonlight-common-c's client then resumes the running app
— and only then quits it. With --api-port and --api-token as well, the parked app is not quit by the
client but stopped through the management API, as an operator would, after reading its entry there.

With --until-end S the script streams until the host ends the stream (an app that exits) or S
seconds pass, and reports whether and how the host terminated it. With --api-port and --api-token
as well, it first reads the host's session list through the management API (loopback, bearer
token), then stops the GameStream session there, as an operator would.

With --operator-launch TITLE_ID (and --api-port, --api-token) the script streams, launches the library
title onto the session's display through the management API as the console does, samples the
picture, ends the title there ("End game") and samples again: the stream goes on.
"""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import statistics
import sys
import urllib.request
import threading
import time
from pathlib import Path

import av
from moonlight_python import MoonlightClient
from moonlight_python import config as ml_config
from moonlight_python import decoder as ml_decoder
from moonlight_python import stream as ml_stream

HOST = "127.0.0.1"

# moonlight-python names the 8-bit 4:2:0 profiles only; `--codec hevc10` asks moonlight-common-c for HEVC
# Main10 (it then sends dynamicRangeMode 1 in the ANNOUNCE), decoded by FFmpeg's HEVC decoder.
ml_config.CODEC_MAP["hevc10"] = ml_config.VIDEO_FORMAT_H265_MAIN10
ml_decoder.CODEC_NAMES["hevc10"] = "hevc"
# `--codec hevc444`: moonlight-common-c's VIDEO_FORMAT_H265_REXT8_444 (chromaSamplingType 1).
ml_config.CODEC_MAP["hevc444"] = 0x0400
ml_decoder.CODEC_NAMES["hevc444"] = "hevc"
# FFmpeg's native AV1 decoder needs a GPU; dav1d decodes in software.
ml_decoder.CODEC_NAMES["av1"] = "libdav1d"

# The pixel formats FFmpeg decoded (the library hands out 8-bit BGR arrays only), and with which
# decoder (the codec moonlight-common-c settled on after DESCRIBE).
DECODED_FORMATS: set[str] = set()
DECODERS: set[str] = set()


def decode_noting_format(self, annex_b_data: bytes):
    """The library's decode step, also noting each picture's decoded pixel format."""
    frames = []
    try:
        for frame in self._codec_ctx.decode(av.Packet(annex_b_data)):
            DECODED_FORMATS.add(frame.format.name)
            DECODERS.add(self._codec_ctx.name)
            frames.append(frame.to_ndarray(format=self._output_format))
    except av.error.InvalidDataError:
        pass  # a corrupted access unit: skipped, as the library does
    return frames


ml_decoder.Decoder.decode = decode_noting_format

# What the host's HDR mode messages (0x010e) told moonlight-common-c: each setHdrMode() call, and
# the metadata LiGetHdrMetadata() then returned. moonlight-python leaves the callback unset, so it is
# added here; the struct is moonlight-common-c's SS_HDR_METADATA (Limelight.h).
HDR_MODES: list[bool] = []
HDR_METADATA: list[dict] = []
HDR_CDEF = """
typedef struct { unsigned short x; unsigned short y; } PF_XY;
typedef struct {
    PF_XY displayPrimaries[3];
    PF_XY whitePoint;
    unsigned short maxDisplayLuminance;
    unsigned short minDisplayLuminance;
    unsigned short maxContentLightLevel;
    unsigned short maxFrameAverageLightLevel;
    unsigned short maxFullFrameLuminance;
} PF_HDR_METADATA;
bool LiGetHdrMetadata(PF_HDR_METADATA* metadata);
"""
_original_callbacks = ml_stream.StreamingSession._make_connection_callbacks


def callbacks_noting_hdr(self):
    callbacks = _original_callbacks(self)
    if not getattr(self, "_pf_hdr_cdef", False):
        self._ffi.cdef(HDR_CDEF)
        self._pf_hdr_cdef = True

    @self._ffi.callback("void(bool)")
    def set_hdr_mode(enabled: bool) -> None:
        HDR_MODES.append(bool(enabled))
        m = self._ffi.new("PF_HDR_METADATA*")
        if enabled and self._lib.LiGetHdrMetadata(m):
            HDR_METADATA.append({
                "primaries": [[p.x, p.y] for p in m.displayPrimaries],
                "white_point": [m.whitePoint.x, m.whitePoint.y],
                "max_display_luminance": m.maxDisplayLuminance,
                "min_display_luminance": m.minDisplayLuminance,
                "max_content_light_level": m.maxContentLightLevel,
                "max_frame_average_light_level": m.maxFrameAverageLightLevel,
                "max_full_frame_luminance": m.maxFullFrameLuminance,
            })

    self._callbacks.append(set_hdr_mode)
    callbacks.setHdrMode = set_hdr_mode
    return callbacks


ml_stream.StreamingSession._make_connection_callbacks = callbacks_noting_hdr


def result(**fields) -> None:
    print("RESULT " + json.dumps(fields), flush=True)


def count_audio(client: MoonlightClient, stop: threading.Event, out: dict) -> None:
    chunks = 0
    samples = 0
    for chunk in client.audio():
        chunks += 1
        samples += int(chunk.data.shape[0])
        if stop.is_set():
            break
    out["chunks"] = chunks
    out["samples"] = samples


def current_game(client: MoonlightClient) -> int:
    http = client._get_http()
    return http.parse_server_info(http.get_server_info(use_https=True)).current_game


def one_launch(client: MoonlightClient, args) -> dict:
    measured = measure(client, args)
    client.stop_stream()
    client.quit_app()
    measured["current_game_after_quit"] = current_game(client)
    return measured


def resume_cycle(client: MoonlightClient, args) -> dict:
    first = measure(client, args)
    client.stop_stream()
    first["current_game_after_stop"] = current_game(client)
    second = measure(client, args)  # currentgame names the app: the client sends /resume
    client.stop_stream()
    second["current_game_after_stop"] = current_game(client)
    if not args.api_port:
        client.quit_app()
        return {"launches": [first, second], "current_game_after_quit": current_game(client)}
    _, sessions = api(args, "GET", "/sessions")
    listed = [s for s in sessions if s.get("protocol") == "gamestream"]
    status = api(args, "DELETE", f"/sessions/{listed[0]['id']}")[0] if listed else None
    return {
        "launches": [first, second],
        "listed_while_parked": listed,
        "operator_stop_status": status,
        "current_game_after_quit": current_game(client),
    }


def start_stream(client: MoonlightClient, args) -> None:
    """Launches (or resumes) --app at the mode, bitrate and codec asked for; returns once frames flow."""
    client.start_stream(
        app=args.app,
        width=args.width,
        height=args.height,
        fps=args.fps,
        bitrate_kbps=args.bitrate,
        codec=args.codec,
        ready_timeout=20.0,
    )


def measure(client: MoonlightClient, args) -> dict:
    """Starts (or resumes) a stream and decodes for --seconds; the stream is left running."""
    started = time.monotonic()
    start_stream(client, args)
    ready_s = time.monotonic() - started
    print("STREAMING", flush=True)
    audio: dict = {}
    stop_audio = threading.Event()
    audio_thread = threading.Thread(target=count_audio, args=(client, stop_audio, audio), daemon=True)
    audio_thread.start()
    frames = 0
    changed = 0
    previous = None
    latencies = []
    centre = None
    size = None
    window_start = time.monotonic()
    deadline = window_start + args.seconds
    # Relative mouse motion there and back: the host injects it into the client's display.
    client._session.nudge_mouse(delta=20)
    for frame in client.frames():
        frames += 1
        # A sparse grid of pixels: enough to tell a moving picture from a still one.
        probe = frame.data[::64, ::64].tobytes()
        if previous is not None and probe != previous:
            changed += 1
        previous = probe
        # moonlight-common-c's frameHostProcessingLatency: 0.1 ms units (0 = not sent).
        if frame.host_processing_latency_us:
            latencies.append(frame.host_processing_latency_us / 10.0)
        if time.monotonic() >= deadline:
            h, w = frame.data.shape[0], frame.data.shape[1]
            size = [w, h]
            b, g, r = (int(v) for v in frame.data[h // 2, w // 2])
            centre = [r, g, b]
            break
    window = time.monotonic() - window_start
    stop_audio.set()
    audio_thread.join(timeout=3.0)
    return {
        "ready_s": round(ready_s, 2),
        "frames": frames,
        "frames_changed": changed,
        "window_s": round(window, 2),
        "size": size,
        "centre_rgb": centre,
        "host_latency_ms_median": statistics.median(latencies) if latencies else None,
        "host_latency_ms_max": max(latencies) if latencies else None,
        "frames_with_latency": len(latencies),
        "audio_chunks": audio.get("chunks", 0),
        "audio_samples": audio.get("samples", 0),
        "decoded_formats": sorted(DECODED_FORMATS),
        "decoders": sorted(DECODERS),
        "hdr_modes": list(HDR_MODES),
        "hdr_metadata": HDR_METADATA[-1] if HDR_METADATA else None,
    }


def api(args, method: str, path: str, body=None):
    """One management API call; the host's certificate is its own self-signed one (loopback)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    token = Path(args.api_token).read_text().strip()
    headers = {"authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{args.api_port}/api/v1{path}",
        method=method,
        headers=headers,
        data=data,
    )
    with urllib.request.urlopen(request, context=ctx, timeout=10) as response:
        body = response.read()
        return response.status, (json.loads(body) if body else None)


def until_end(client: MoonlightClient, args) -> dict:
    start_stream(client, args)
    print("STREAMING", flush=True)
    listed = None
    if args.api_port:
        time.sleep(1.5)  # past one stats interval
        _, sessions = api(args, "GET", "/sessions")
        listed = [s for s in sessions if s.get("protocol") == "gamestream"]
        if listed:
            status, _ = api(args, "DELETE", f"/sessions/{listed[0]['id']}")
            listed[0]["stop_status"] = status
    started = time.monotonic()
    session = client._session
    while time.monotonic() - started < args.until_end and not session.is_terminated:
        time.sleep(0.05)
    terminated = session.is_terminated
    code = session.termination_error
    streamed_s = time.monotonic() - started
    client.stop_stream()
    http = client._get_http()
    current = http.parse_server_info(http.get_server_info(use_https=True)).current_game
    return {
        "terminated": terminated,
        "termination_error": code,
        "streamed_s": round(streamed_s, 2),
        "current_game_after_end": current,
        "listed": listed,
    }


def centre_after(client: MoonlightClient, seconds: float):
    """Decodes for `seconds`; the centre pixel (RGB) of the last frame."""
    deadline = time.monotonic() + seconds
    centre = None
    for frame in client.frames():
        h, w = frame.data.shape[0], frame.data.shape[1]
        b, g, r = (int(v) for v in frame.data[h // 2, w // 2])
        centre = [r, g, b]
        if time.monotonic() >= deadline:
            break
    return centre


def operator_launch(client: MoonlightClient, args) -> dict:
    start_stream(client, args)
    print("STREAMING", flush=True)
    before = centre_after(client, 1.5)
    _, sessions = api(args, "GET", "/sessions")
    session_id = next(s["id"] for s in sessions if s.get("protocol") == "gamestream")
    launch_status, _ = api(
        args, "POST", f"/sessions/{session_id}/launch", {"title_id": args.operator_launch}
    )
    launched = centre_after(client, args.seconds)
    _, running = api(args, "GET", f"/sessions/{session_id}")
    end_status, _ = api(args, "DELETE", f"/sessions/{session_id}/app")
    ended = centre_after(client, 3.0)
    _, after = api(args, "GET", f"/sessions/{session_id}")
    terminated = client._session.is_terminated
    client.stop_stream()
    client.quit_app()
    return {
        "centre_before": before,
        "launch_status": launch_status,
        "centre_launched": launched,
        "app": running.get("app"),
        "app_name": running.get("app_name"),
        "end_status": end_status,
        "centre_ended": ended,
        "app_after_end": after.get("app"),
        "app_name_after_end": after.get("app_name"),
        "terminated_by_end_game": terminated,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-dir", required=True)
    parser.add_argument("--app", default="Desktop")
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=60)
    parser.add_argument("--bitrate", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--launches", type=int, default=1)
    parser.add_argument("--pause-after", type=int)
    parser.add_argument("--brief", action="store_true")
    parser.add_argument("--until-end", type=float)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--api-port", type=int)
    parser.add_argument("--api-token")
    parser.add_argument("--operator-launch")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    client = MoonlightClient(config_dir=Path(args.client_dir))
    client.connect(HOST, args.port)  # paired already: no pairing starts
    launches = []
    try:
        if args.operator_launch is not None:
            result(**operator_launch(client, args))
            return
        if args.until_end is not None:
            result(**until_end(client, args))
            return
        if args.resume:
            result(**resume_cycle(client, args))
            return
        for i in range(args.launches):
            if i == args.pause_after:
                print("PAUSED", flush=True)
                sys.stdin.readline()
            launch = one_launch(client, args)
            launches.append({"frames": launch["frames"]} if args.brief else launch)
    except Exception as e:  # reported; the Rust test fails with this text
        result(error=type(e).__name__, message=str(e), launches=launches)
        return
    result(launches=launches)


if __name__ == "__main__":
    sys.exit(main())
