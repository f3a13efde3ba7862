"""Audio out of and text into a GameStream session, on moonlight-python (the real moonlight-common-c
client), for crates/punktfunk-e2e/tests/gamestream_audio_e2e.rs. The client in --client-dir must
already be paired.

Run by the Rust test, never by hand. The script starts the Desktop stream, reads the session from
the host's management API and prints `SESSION <json>` (its id and its display), then talks with the
test over stdin/stdout:

  audio: once decoded audio flows, prints `LISTENING`; the test then starts pw-play on the
         session's sink and writes `PLAY <unix µs>` (when it did); the script decodes on for
         --seconds. The analysis of what arrived after PLAY (spectral peak, SNR, latency) is
         the `RESULT <json>` line.
         With --channels 6 or 8 the client asks for 5.1 or 7.1 (normal quality), as Moonlight's
         surround setting does; the analysis is per decoded channel, in Moonlight's order. Audio
         is decoded as Moonlight's own clients decode it: libopus's multistream decoder with the
         stream split and mapping moonlight-common-c negotiated (moonlight-python's FFmpeg decoder
         reads surround as Vorbis channel order and reorders it, which no Moonlight client does).
  pad:   announces an Xbox controller (LiSendControllerArrivalEvent), sends five states of it
         (LiSendMultiControllerEvent: A, right trigger, left stick), unplugs it (its bit cleared
         in the active mask) and reports the library's return codes.
  text:  waits for `TYPE` (the test's window is up on the session's display), clicks into the
         middle of the display, sends --text through LiSendUtf8TextEvent and Enter through
         LiSendKeyboardEvent, prints `TYPED`, and ends the stream on `DONE`.

    moonlight_session_io.py audio|text --port P --client-dir D --api-port A --api-token T
        [--width W --height H --fps F] [--seconds S] [--text TEXT]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import ssl
import sys
import threading
import time
import urllib.request
from pathlib import Path

import ctypes
import moonlight_python
import moonlight_python._stream_manager
import numpy as np
from moonlight_python import MoonlightClient
from moonlight_python.stream import _find_shared_lib

HOST = "127.0.0.1"
RATE = 48_000
# moonlight-common-c's Limelight.h.
KEY_ACTION_DOWN = 0x03
KEY_ACTION_UP = 0x04
VK_RETURN = 0x0D
BUTTON_ACTION_PRESS = 0x07
BUTTON_ACTION_RELEASE = 0x08
BUTTON_LEFT = 0x01
# MAKE_AUDIO_CONFIGURATION(channels, mask): the speakers of stereo, 5.1 and 7.1.
CHANNEL_MASKS = {2: 0x3, 6: 0x3F, 8: 0x63F}


class LibopusDecoder:
    """moonlight-python's AudioDecoder interface on libopus's multistream decoder."""

    MAX_FRAME = 5760  # 120 ms at 48 kHz

    def __init__(self, sample_rate=48000, channels=2, streams=1, coupled_streams=1, mapping=None):
        lib = ctypes.CDLL("libopus.so.0")
        lib.opus_multistream_decoder_create.restype = ctypes.c_void_p
        lib.opus_multistream_decoder_create.argtypes = [
            ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(ctypes.c_int),
        ]
        lib.opus_multistream_decode_float.restype = ctypes.c_int
        lib.opus_multistream_decode_float.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
            ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.c_int,
        ]
        lib.opus_multistream_decoder_destroy.argtypes = [ctypes.c_void_p]
        mapping = list(mapping if mapping is not None else range(channels))[:channels]
        error = ctypes.c_int(0)
        self._lib = lib
        self._state = lib.opus_multistream_decoder_create(
            sample_rate, channels, streams, coupled_streams,
            (ctypes.c_ubyte * channels)(*mapping), ctypes.byref(error),
        )
        if error.value != 0 or not self._state:
            raise RuntimeError(f"opus_multistream_decoder_create: {error.value}")
        self._channels = channels
        self._sample_rate = sample_rate
        self._pcm = (ctypes.c_float * (self.MAX_FRAME * channels))()
        self._errors = 0

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def decode_errors(self) -> int:
        return self._errors

    def decode(self, opus_data: bytes) -> list:
        if not self._state:
            return []
        frames = self._lib.opus_multistream_decode_float(
            self._state, opus_data, len(opus_data), self._pcm, self.MAX_FRAME, 0
        )
        if frames < 0:
            self._errors += 1
            return []
        pcm = np.ctypeslib.as_array(self._pcm)[: frames * self._channels]
        return [pcm.reshape(frames, self._channels).copy()]

    def close(self) -> None:
        if self._state:
            self._lib.opus_multistream_decoder_destroy(self._state)
            self._state = None

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        self.close()


moonlight_python._stream_manager.AudioDecoder = LibopusDecoder


def ask_for_channels(channels: int) -> None:
    """moonlight-python streams stereo; its StreamConfig is built inside start_stream(), so the
    audio configuration is set by wrapping the name that code looks up."""
    configuration = (CHANNEL_MASKS[channels] << 16) | (channels << 8) | 0xCA
    original = moonlight_python.StreamConfig

    def with_channels(*args, **kwargs):
        kwargs.setdefault("audio_configuration", configuration)
        return original(*args, **kwargs)

    moonlight_python.StreamConfig = with_channels


def say(kind: str, payload=None) -> None:
    print(kind if payload is None else f"{kind} {json.dumps(payload)}", flush=True)


def api(args, path: str):
    """GET on the management API (loopback, the host's own self-signed certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    token = Path(args.api_token).read_text().strip()
    request = urllib.request.Request(
        f"https://127.0.0.1:{args.api_port}/api/v1{path}",
        headers={"authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, context=ctx, timeout=10) as response:
        return json.loads(response.read())


def the_session(args) -> dict:
    deadline = time.monotonic() + 10
    while True:
        sessions = [s for s in api(args, "/sessions") if s.get("protocol") == "gamestream"]
        if sessions and sessions[0].get("display"):
            return sessions[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no GameStream session with a display in the API: {sessions}")
        time.sleep(0.2)


def tone_analysis(x: np.ndarray, rate: int) -> dict:
    """Peak frequency (parabolic interpolation on a Hann-windowed spectrum) and the SNR: power
    near the peak against the power of everything else above 20 Hz."""
    windowed = (x - x.mean()) * np.hanning(len(x))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    audible = freqs >= 20.0
    k = int(np.argmax(np.where(audible, power, 0.0)))
    peak = float(freqs[k])
    if 0 < k < len(power) - 1:
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-30)
        denominator = a - 2 * b + c
        if denominator != 0:
            peak += float(0.5 * (a - c) / denominator) * float(freqs[1])
    # ±5 Hz, or ±3 bins on short blocks (a Hann window's main lobe is ±2 bins wide).
    near = np.abs(freqs - peak) <= max(5.0, 3 * float(freqs[1]))
    signal = float(power[near].sum())
    noise = float(power[audible & ~near].sum())
    snr = 10 * np.log10(signal / noise) if noise > 0 else float("inf")
    return {"peak_hz": round(peak, 2), "snr_db": round(float(snr), 1)}


def isolation_db(x: np.ndarray, rate: int, own: float, others: list) -> float:
    """How far every other speaker's tone stays below this speaker's own (dB): the power within
    ±5 Hz of `own` against the strongest of the `others`. Broadband codec noise counts in neither,
    so this measures crosstalk between speakers, not coding quality."""
    windowed = (x - x.mean()) * np.hanning(len(x))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    near = lambda f: float(power[np.abs(freqs - f) <= 5.0].sum())
    leak = max((near(f) for f in others), default=0.0)
    return round(10 * np.log10(near(own) / leak), 1) if leak > 0 else float("inf")


def collect_audio(client: MoonlightClient, stop: threading.Event, chunks: list) -> None:
    for chunk in client.audio():
        # receive_time_us is perf_counter() µs on moonlight-common-c's RTP receive thread.
        chunks.append((chunk.receive_time_us, chunk.data.copy()))
        if stop.is_set():
            break


def audio(client: MoonlightClient, args) -> dict:
    # perf_counter() to the Unix clock the test's PLAY stamp is on.
    unix_minus_perf_us = time.time() * 1e6 - time.perf_counter() * 1e6
    chunks: list = []
    stop = threading.Event()
    thread = threading.Thread(target=collect_audio, args=(client, stop, chunks), daemon=True)
    thread.start()
    # moonlight-common-c discards the stream's first audio (its "initial audio resync period",
    # 500 ms) so that host-side buffering does not become standing latency; a tone played before
    # decoded audio flows would measure that period, not the path.
    deadline = time.monotonic() + 10
    while not chunks and time.monotonic() < deadline:
        time.sleep(0.01)
    if not chunks:
        raise RuntimeError("no audio decoded within 10 s of the stream's start")
    say("LISTENING")
    play_us = None
    line = sys.stdin.readline().split()
    if len(line) == 2 and line[0] == "PLAY":
        play_us = int(line[1])
    time.sleep(max(0.0, args.seconds))
    stop.set()
    thread.join(timeout=3.0)
    if play_us is None:
        raise RuntimeError("the test never said PLAY")
    if not chunks:
        raise RuntimeError("no audio decoded")
    arrivals = np.array([unix_minus_perf_us + t for t, _ in chunks])
    channels = chunks[0][1].shape[1]
    after = [d for (t, d), at in zip(chunks, arrivals) if at >= play_us]
    rms = [float(np.sqrt(np.mean(d**2))) for d in after]
    # The tone is a 0.4 sine (RMS 0.28); silence decodes to ~0. The first chunk above 0.05 is the
    # tone's first sound through pw-play, the sink, Opus, the network and the client's decoder.
    first = next((i for i, r in enumerate(rms) if r > 0.05), None)
    if first is None:
        return {"chunks": len(chunks), "after_play": len(after), "error": "the tone never arrived"}
    first_at = [at for at in arrivals if at >= play_us][first]
    # Analyse from a quarter second after the first sound (pw-play's ramp-in and the first packets)
    # to the end.
    pcm = np.concatenate(after[first:])
    pcm = pcm[RATE // 4 :]
    # 100 ms blocks as well: one dropout (the host sink's FIFO running dry when the audio graph is
    # starved of CPU) is broadband noise that drags the whole window's SNR down; the median block
    # says what the codec path delivers, the dropouts are counted on their own.
    block = RATE // 10
    blocks = [pcm[i : i + block] for i in range(0, pcm.shape[0] - block + 1, block)]
    skip = first + RATE // 4 // 240
    # When each quiet chunk came, in ms after the first sound: a dropout's place in the tone.
    dropouts = [
        round((at - first_at) / 1000.0)
        for r, at in zip(rms[skip:], [a for a in arrivals if a >= play_us][skip:])
        if r < 0.1
    ]
    return {
        "chunks": len(chunks),
        "channels": channels,
        "samples_per_chunk": int(chunks[0][1].shape[0]),
        "analysed_s": round(pcm.shape[0] / RATE, 2),
        "tones": [tone_analysis(pcm[:, c], RATE) for c in range(channels)],
        # With --tones (one frequency per channel, as played): crosstalk between the speakers.
        "isolation_db": [
            isolation_db(pcm[:, c], RATE, args.tones[c], args.tones[:c] + args.tones[c + 1 :])
            for c in range(min(channels, len(args.tones)))
        ],
        "block_snr_db": [
            [tone_analysis(b[:, c], RATE)["snr_db"] for b in blocks] for c in range(channels)
        ],
        "block_snr_db_median": [
            float(np.median([tone_analysis(b[:, c], RATE)["snr_db"] for b in blocks]))
            for c in range(channels)
        ],
        "quiet_chunks_in_tone_ms": dropouts,
        "client_losses": client._session.audio_loss_stats,
        "first_sound_after_play_ms": round((first_at - play_us) / 1000.0, 1),
        "rms_before_first_sound": round(max(rms[:first], default=0.0), 4),
    }


def text(client: MoonlightClient, args) -> dict:
    # The same library instance as moonlight-python's own (dlopen of one path is one handle); its
    # cffi declarations have no keyboard or text calls, these are moonlight-common-c's own.
    lib = ctypes.CDLL(_find_shared_lib())
    lib.LiSendMousePositionEvent.argtypes = [ctypes.c_short] * 4
    lib.LiSendMouseButtonEvent.argtypes = [ctypes.c_char, ctypes.c_int]
    lib.LiSendUtf8TextEvent.argtypes = [ctypes.c_char_p, ctypes.c_uint]
    lib.LiSendKeyboardEvent.argtypes = [ctypes.c_short, ctypes.c_char, ctypes.c_char]
    if sys.stdin.readline().strip() != "TYPE":
        raise RuntimeError("the test never said TYPE")
    # Focus: a click into the middle of the display, where the test's fullscreen window is.
    statuses = [
        lib.LiSendMousePositionEvent(args.width // 2, args.height // 2, args.width, args.height),
        lib.LiSendMouseButtonEvent(bytes([BUTTON_ACTION_PRESS]), BUTTON_LEFT),
        lib.LiSendMouseButtonEvent(bytes([BUTTON_ACTION_RELEASE]), BUTTON_LEFT),
    ]
    time.sleep(0.3)
    encoded = args.text.encode("utf-8")
    statuses.append(lib.LiSendUtf8TextEvent(encoded, len(encoded)))
    time.sleep(0.3)
    statuses.append(lib.LiSendKeyboardEvent(VK_RETURN, bytes([KEY_ACTION_DOWN]), b"\x00"))
    statuses.append(lib.LiSendKeyboardEvent(VK_RETURN, bytes([KEY_ACTION_UP]), b"\x00"))
    say("TYPED")
    sys.stdin.readline()  # DONE
    return {"send_statuses": statuses, "text": args.text}


LI_CTYPE_XBOX = 0x01
LI_CCAP_ANALOG_TRIGGERS = 0x01
LI_CCAP_RUMBLE = 0x02
A_FLAG = 0x1000


def pad(client: MoonlightClient, args) -> dict:
    lib = ctypes.CDLL(_find_shared_lib())
    lib.LiSendControllerArrivalEvent.argtypes = [
        ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint16,
    ]
    lib.LiSendControllerTouchEvent.argtypes = [
        ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint32, ctypes.c_float, ctypes.c_float,
        ctypes.c_float,
    ]
    lib.LiSendMultiControllerEvent.argtypes = [
        ctypes.c_short, ctypes.c_short, ctypes.c_int, ctypes.c_ubyte, ctypes.c_ubyte,
        ctypes.c_short, ctypes.c_short, ctypes.c_short, ctypes.c_short,
    ]
    arrival = lib.LiSendControllerArrivalEvent(
        0, 0x1, LI_CTYPE_XBOX, 0xFFFF, LI_CCAP_ANALOG_TRIGGERS | LI_CCAP_RUMBLE
    )
    states = []
    for i in range(5):
        buttons = A_FLAG if i % 2 == 0 else 0
        states.append(
            lib.LiSendMultiControllerEvent(0, 0x1, buttons, 0, 50 * i, 1000 * i, -1000 * i, 0, 0)
        )
        time.sleep(0.05)
    # LI_TOUCH_EVENT_DOWN on the controller's touchpad: only sent when the host advertises
    # controller touch events (LI_ERR_UNSUPPORTED, -5501, otherwise).
    touch = lib.LiSendControllerTouchEvent(0, 0x01, 0, 0.5, 0.5, 1.0)
    unplugged = lib.LiSendMultiControllerEvent(0, 0x0, 0, 0, 0, 0, 0, 0, 0)
    time.sleep(0.5)  # the last packets reach the host before the stream ends
    return {
        "arrival_status": arrival,
        "state_statuses": states,
        "touch_status": touch,
        "unplug_status": unplugged,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["audio", "text", "pad"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-dir", required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--api-token", required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--text", default="")
    parser.add_argument("--channels", type=int, choices=[2, 6, 8], default=2)
    parser.add_argument(
        "--tones",
        type=lambda s: [float(f) for f in s.split(",") if f],
        default=[],
        help="the frequency played on each channel (for the crosstalk figure)",
    )
    args = parser.parse_args()
    ask_for_channels(args.channels)
    client = MoonlightClient(config_dir=Path(args.client_dir))
    client.connect(HOST, args.port)  # paired already: no pairing starts
    try:
        client.start_stream(
            app="Desktop",
            width=args.width,
            height=args.height,
            fps=args.fps,
            bitrate_kbps=2000,
            codec="h264",
            ready_timeout=20.0,
        )
        session = the_session(args)
        say("SESSION", {"id": session["id"], "display": session["display"]})
        modes = {"audio": audio, "text": text, "pad": pad}
        outcome = modes[args.mode](client, args)
        client.stop_stream()
        client.quit_app()
    except Exception as e:  # reported; the Rust test fails with this text
        say("RESULT", {"error": type(e).__name__, "message": str(e)})
        return
    say("RESULT", outcome)


if __name__ == "__main__":
    sys.exit(main())
